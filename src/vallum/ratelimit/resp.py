"""A lean Redis client for the rate-limit hot path: one pipelined connection, RESP2 only.

Why not redis-py here: on the development machine one redis-py command costs ~200 µs of
client CPU (connection pool, retry wrapper, a task per ``wait_for``), five times the
round trip itself; the limit layer makes two commands per call. This client keeps one
TCP connection per layer instance and pipelines concurrent calls over it: every command
is written as pre-encoded bytes, its future waits in a FIFO, and replies (which Redis
sends in order) resolve the futures as they arrive.

Failure: a timeout, a closed connection or a protocol error fails every call in flight
with ``StorageError`` and drops the connection; the next call reconnects (and reloads
the scripts), so the client recovers by itself when Redis comes back.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from vallum.errors import ConfigError, StorageError
from vallum.storage import redact_url

__all__ = ["ReplyError", "RespClient", "encode_command", "parse_reply"]


class ReplyError(Exception):
    """An error reply (``-ERR ...``); a value the parser returns, never raises."""


class _Incomplete(StorageError):
    """The buffer ends inside a reply: wait for more bytes (internal)."""


def encode_command(*parts: bytes) -> bytes:
    """One RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%b\r\n" % (len(part), part))
    return b"".join(out)


def parse_reply(buf: bytes | bytearray, pos: int) -> tuple[Any, int]:
    """One reply starting at ``pos``: (value, next position); ``_Incomplete`` if cut short."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete("incomplete reply")
    kind = buf[pos]
    line = bytes(buf[pos + 1 : end])
    pos = end + 2
    if kind == 58:  # ':' integer
        return int(line), pos
    if kind == 36:  # '$' bulk string
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete("incomplete reply")
        return bytes(buf[pos : pos + size]), pos + size + 2
    if kind == 42:  # '*' array
        count = int(line)
        if count < 0:
            return None, pos
        lines = buf[pos:].split(b"\r\n", count)
        if len(lines) > count and all(item[:1] == b":" for item in lines[:count]):
            # an array of integers (the reserve reply): one split, not one parse per item
            return [int(item[1:]) for item in lines[:count]], len(buf) - len(lines[count])
        items = []
        for _ in range(count):
            item, pos = parse_reply(buf, pos)
            items.append(item)
        return items, pos
    if kind == 43:  # '+' simple string
        return line, pos
    if kind == 45:  # '-' error
        return ReplyError(line.decode("utf-8", "replace")), pos
    raise StorageError("redis sent something that is not a RESP2 reply")


class _Connection(asyncio.Protocol):
    """One socket; replies resolve the oldest waiting future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.deadlines: deque[float] = deque()  # per waiter, same order
        self.buffer = bytearray()
        self.lost = False
        self.unsent: list[bytes] = []  # commands posted without waiting, written soon
        self.flush_due = False

    def write(self, payload: bytes) -> None:
        """Write ``payload`` after any commands still unsent (the order replies come in)."""
        if self.unsent:
            self.unsent.append(payload)
            payload = b"".join(self.unsent)
            self.unsent.clear()
        cast(asyncio.Transport, self.transport).write(payload)

    def flush(self) -> None:
        self.flush_due = False
        if self.unsent and not self.lost:
            self.write(b"")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        pos = 0
        try:
            while pos < len(buffer) and self.waiters:
                value, pos = parse_reply(buffer, pos)
                waiter = self.waiters.popleft()
                self.deadlines.popleft()
                if not waiter.done():
                    waiter.set_result(value)
        except _Incomplete:
            pass
        except (StorageError, ValueError):
            self.fail("protocol error")
            return
        del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail_waiters("connection lost")

    def fail(self, reason: str) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()
        self._fail_waiters(reason)

    def _fail_waiters(self, reason: str) -> None:
        self.deadlines.clear()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(StorageError("redis " + reason))


class RespClient:
    """Commands over one lazily (re)connected, pipelined connection."""

    def __init__(self, url: str, *, timeout: float, on_connect: Sequence[bytes] = ()) -> None:
        self.timeout = timeout
        self._on_connect = list(on_connect)
        self._conn: _Connection | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._host, self._port, self._ssl, handshake = _parse_url(url)
        self._handshake = handshake

    async def call(self, payload: bytes) -> Any:
        """Send one pre-encoded command; its reply (a ``ReplyError`` is returned, not raised)."""
        conn = self._conn
        if conn is None or conn.lost:
            conn = await self._connection()
        return await self._post(conn, payload)

    async def send(self, payload: bytes) -> asyncio.Future[Any]:
        """Queue one pre-encoded command and return the future of its reply, without
        waiting for it (connecting first if needed); the caller must consume the future.

        The command is written with the next command sent, or at the end of this event
        loop iteration at the latest: one write (and one wake-up of Redis) for both.
        """
        conn = self._conn
        if conn is None or conn.lost:
            conn = await self._connection()
        return self._post(conn, payload, wait=False)

    def resend(self, payload: bytes) -> asyncio.Future[Any]:
        """``send`` on the current connection, from a callback (no connecting)."""
        conn = self._conn
        if conn is None:
            raise StorageError("redis connection lost")
        return self._post(conn, payload, wait=False)

    def _post(self, conn: _Connection, payload: bytes, wait: bool = True) -> asyncio.Future[Any]:
        if conn.lost:
            raise StorageError("redis connection lost")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        deadline = loop.time() + self.timeout
        conn.waiters.append(waiter)
        conn.deadlines.append(deadline)
        if wait:
            conn.write(payload)
        else:
            conn.unsent.append(payload)
            if not conn.flush_due:
                conn.flush_due = True
                loop.call_soon(conn.flush)
        if self._watchdog is None:
            self._watchdog = loop.call_at(deadline, self._watch)
        return waiter

    def _watch(self) -> None:
        """One timer for all calls, not one per call: replies come in order, so only the
        oldest call in flight can be late; if it is, the connection is dropped. (A lost
        connection has failed its calls already; only the current one is watched.)"""
        self._watchdog = None
        conn = self._conn
        if conn is None or conn.lost or not conn.deadlines:
            return
        loop = asyncio.get_running_loop()
        oldest = conn.deadlines[0]
        if oldest <= loop.time():
            conn.fail("timed out")  # the stream is out of step now: drop it, fail all in flight
        else:
            self._watchdog = loop.call_at(oldest, self._watch)

    async def _connection(self) -> _Connection:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Connection, self._host, self._port, ssl=self._ssl),
                self.timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise StorageError("redis unreachable") from exc
        self._conn = conn
        for command in self._handshake + self._on_connect:
            reply = await self._post(conn, command)
            if isinstance(reply, ReplyError):
                conn.fail("handshake refused")
                raise StorageError("redis refused the connection set-up")
        return conn

    async def close(self) -> None:
        """Close, after the replies still on their way (sent commands) arrive or time out."""
        conn = self._conn
        if conn is not None and conn.waiters and not conn.lost:
            conn.flush()
            await asyncio.wait(list(conn.waiters), timeout=self.timeout)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            conn.lost = True
            conn.transport.close()


def _parse_url(url: str) -> tuple[str, int, ssl.SSLContext | None, list[bytes]]:
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError as exc:
        raise ConfigError("invalid Redis URL", context={"url": redact_url(url)}) from exc
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError("invalid Redis URL", context={"url": redact_url(url)})
    handshake: list[bytes] = []
    if parts.password is not None:
        auth = [b"AUTH"]
        if parts.username:
            auth.append(unquote(parts.username).encode())
        auth.append(unquote(parts.password).encode())
        handshake.append(encode_command(*auth))
    db = parts.path.strip("/")
    if db and db != "0":
        if not db.isdigit():
            raise ConfigError("invalid Redis URL", context={"url": redact_url(url)})
        handshake.append(encode_command(b"SELECT", db.encode()))
    context = _tls_context(url, parse_qs(parts.query)) if parts.scheme == "rediss" else None
    return parts.hostname, port, context, handshake


_TLS_PARAMETERS = frozenset(
    {"ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"}
    | {"ssl_check_hostname", "ssl_password"}
)


def _tls_context(url: str, query: dict[str, list[str]]) -> ssl.SSLContext:
    """The TLS context a ``rediss://`` URL's parameters describe (redis-py's names):
    ``ssl_ca_certs`` / ``ssl_ca_path`` (a private CA), ``ssl_certfile`` + ``ssl_keyfile``
    (a client certificate), ``ssl_cert_reqs`` (``required``, ``optional``, ``none``) and
    ``ssl_check_hostname``. Other ``ssl_*`` parameters are refused, not ignored."""
    options = {k: v[-1] for k, v in query.items() if k.startswith("ssl_")}
    unknown = sorted(set(options) - _TLS_PARAMETERS)
    if unknown:
        raise ConfigError(
            f"unsupported TLS parameter in the Redis URL: {', '.join(unknown)}",
            context={"url": redact_url(url)},
        )
    try:
        context = ssl.create_default_context(
            cafile=options.get("ssl_ca_certs"), capath=options.get("ssl_ca_path")
        )
        if "ssl_certfile" in options:
            context.load_cert_chain(
                options["ssl_certfile"],
                options.get("ssl_keyfile"),
                password=options.get("ssl_password"),
            )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "the Redis URL's TLS files cannot be loaded", context={"url": redact_url(url)}
        ) from exc
    reqs = options.get("ssl_cert_reqs", "required").lower()
    check = options.get("ssl_check_hostname", "true" if reqs == "required" else "false")
    context.check_hostname = check.lower() in ("true", "1", "yes")
    modes = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
    if reqs not in modes:
        raise ConfigError(
            "ssl_cert_reqs must be required, optional or none", context={"url": redact_url(url)}
        )
    if modes[reqs] is ssl.CERT_NONE:
        context.check_hostname = False
    context.verify_mode = modes[reqs]
    return context
