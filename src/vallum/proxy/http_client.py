"""A small pooled HTTP/1.1 client for upstream calls, on asyncio protocols and httptools.

Chosen over aiohttp and httpx by measurement (docs/performance.md): the upstream call
is most of a gateway's CPU cost, and this client does only what a proxy needs —
keep-alive pools per origin, streaming bodies with back-pressure, and timeouts.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from vallum.errors import UpstreamError, UpstreamTimeout
from vallum.providers.base import UpstreamRequest, UpstreamResponse

__all__ = ["HttpClient", "Origin"]

_HIGH_WATER = 1 << 20
_MAX_TARGETS = 1024


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> tuple[Origin, str]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamError("Upstream URL is invalid.", context={"scheme": parts.scheme})
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port), target


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses responses with httptools callbacks."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.complete = False
        self.headers_done = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self.received_any = False
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport, so no isinstance check here.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError("The upstream sent a malformed HTTP response."), exc)
        if self.buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete:
            self._fail(UpstreamError("The upstream closed the connection."), exc)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        # llhttp resets its flags once the message completes: ask while the head is current.
        self.keep_alive = self.parser.should_keep_alive()
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # consumer side
    def _fail(self, error: UpstreamError, cause: BaseException | None) -> None:
        if self.error is None:
            error.__cause__ = cause
            self.error = error
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        # A bare timer on the waiter: cheaper than asyncio.timeout() on this per-chunk path.
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(seconds, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers = []
        self.chunks.clear()
        self.buffered = 0
        self.complete = self.headers_done = self.received_any = self.keep_alive = False

    def reusable(self) -> bool:
        return not self.closed and self.complete and self.error is None and self.keep_alive


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout("The upstream did not answer in time."))


class HttpClient:
    """Pooled upstream client. One per gateway; connections are reused per origin."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        max_response_bytes: int = 64 * 1024 * 1024,
        max_idle_per_origin: int = 256,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_response_bytes = max_response_bytes
        self.max_idle = max_idle_per_origin
        self._ssl = ssl_context
        self._idle: dict[Origin, deque[_Connection]] = {}
        # URL -> (origin, encoded request line + host): URLs come from config, so this stays small.
        self._targets: dict[tuple[str, str], tuple[Origin, bytes]] = {}

    async def close(self) -> None:
        for pool in self._idle.values():
            for conn in pool:
                if conn.transport is not None:
                    conn.transport.close()
        self._idle.clear()

    async def request(self, request: UpstreamRequest) -> UpstreamResponse:
        key = (request.method, request.url)
        known = self._targets.get(key)
        if known is None:
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            origin, target = Origin.parse(request.url)
            known = self._targets[key] = (origin, _request_line(request.method, origin, target))
        origin = known[0]
        head = known[1] + _encode_fields(request)
        conn, reused = await self._acquire(origin)
        try:
            try:
                await self._send(conn, head, request.body)
            except UpstreamError:
                if not reused or conn.received_any:
                    raise
                conn = await self._connect(origin)  # the idle keep-alive had gone stale: retry
                await self._send(conn, head, request.body)
            if request.stream and 200 <= conn.status < 300:
                stream = self._stream(origin, conn)
                return UpstreamResponse(conn.status, conn.headers, stream=stream)
            body = await self._read_all(conn)
        except BaseException:
            # A timeout, a cancelled call or a broken response: this connection is done for.
            conn.closed = True
            if conn.transport is not None:
                conn.transport.close()
            raise
        self._release(origin, conn)
        return UpstreamResponse(conn.status, conn.headers, body=body)

    async def _send(self, conn: _Connection, head: bytes, body: bytes) -> None:
        assert conn.transport is not None  # noqa: S101 - set by connection_made
        conn.reset()
        conn.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            conn.transport.write(body)
        while not conn.headers_done:
            if conn.error is not None:
                raise conn.error
            await conn.wait(self.read_timeout)

    async def _read_all(self, conn: _Connection) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            if conn.chunks:
                data = conn.take()
                size += len(data)
                if size > self.max_response_bytes:
                    conn.closed = True
                    raise UpstreamError("The upstream response is too large.")
                parts.append(data)
            if conn.complete:
                return b"".join(parts)
            if conn.error is not None:
                raise conn.error
            await conn.wait(self.read_timeout)

    async def _stream(self, origin: Origin, conn: _Connection) -> AsyncIterator[bytes]:
        try:
            while True:
                if conn.chunks:
                    yield conn.take()
                    continue
                if conn.complete:
                    break
                if conn.error is not None:
                    raise conn.error
                await conn.wait(self.read_timeout)
        finally:
            if conn.complete and not conn.chunks:
                self._release(origin, conn)
            elif conn.transport is not None:
                conn.closed = True
                conn.transport.close()

    async def _acquire(self, origin: Origin) -> tuple[_Connection, bool]:
        pool = self._idle.get(origin)
        while pool:
            conn = pool.pop()
            if not conn.closed:
                return conn, True
        return await self._connect(origin), False

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        context = None
        if origin.scheme == "https":
            context = self._ssl or ssl.create_default_context()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    _Connection,
                    origin.host,
                    origin.port,
                    ssl=context,
                    server_hostname=origin.host if context else None,
                )
        except TimeoutError as exc:
            raise UpstreamTimeout("Connecting to the upstream timed out.") from exc
        except OSError as exc:
            raise UpstreamError(
                "Could not connect to the upstream.", context={"host": origin.host}
            ) from exc
        return conn

    def _release(self, origin: Origin, conn: _Connection) -> None:
        if not conn.reusable():
            if conn.transport is not None:
                conn.transport.close()
            return
        pool = self._idle.setdefault(origin, deque())
        if len(pool) < self.max_idle:
            pool.append(conn)
        elif conn.transport is not None:
            conn.transport.close()


def _request_line(method: str, origin: Origin, target: str) -> bytes:
    default_port = 443 if origin.scheme == "https" else 80
    host = origin.host if origin.port == default_port else f"{origin.host}:{origin.port}"
    return f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n".encode("latin-1")


def _encode_fields(request: UpstreamRequest) -> bytes:
    lines = [f"content-length: {len(request.body)}", "accept-encoding: identity"]
    lines.extend(f"{name}: {value}" for name, value in request.headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
