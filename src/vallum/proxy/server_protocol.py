"""uvicorn's httptools protocol, with the writes of one event-loop step sent as one.

uvicorn writes a response head and each body part with separate ``transport.write``
calls: a JSON response is two ``write()`` system calls, a short stream three or more.
On loopback each write that reaches an idle reader also wakes it (on a VM an
inter-processor interrupt), and the client parses a head before it blocks again for
the body. ``CoalescingTransport`` keeps what one step of the event loop writes and
sends it as one ``write()`` at the next iteration (``call_soon``), or at once when it
passes ``FLUSH_BYTES`` or the transport is closed. Nothing waits on a timer: the bytes
leave before the loop polls for I/O again. Measured in docs/performance.md.

``VallumHttpProtocol`` also guards each connection (``proxy.connections``): caps, head
size and read timeouts enforced as the bytes arrive, trailers never taken as headers.
On a TLS connection it also puts the handshake's verified client
certificate into each request's scope, in the ASGI TLS extension's shape
(``scope["extensions"]["tls"]``), which uvicorn itself does not fill.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from vallum.pipeline.layer import Deny
from vallum.proxy.connections import (
    ConnectionGuard,
    ConnectionLimits,
    new_request_id,
    raw_error,
)

__all__ = [
    "FLUSH_BYTES",
    "CoalescingTransport",
    "VallumHttpProtocol",
    "protocol_factory",
    "tls_extension",
]

log = logging.getLogger("vallum.proxy")

FLUSH_BYTES = 64 * 1024
_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class CoalescingTransport:
    """A write-coalescing view of an asyncio transport; everything else passes through."""

    __slots__ = ("_loop", "_parts", "_scheduled", "_size", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._parts: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._parts.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Send what is buffered now (dropped when the connection is already closing)."""
        parts = self._parts
        if not parts:
            return
        self._parts = []
        self._size = 0
        if self.transport.is_closing():
            return
        self.transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def writelines(self, data: Any) -> None:
        for part in data:
            self.write(part)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._parts = []
        self._size = 0
        self.transport.abort()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any] | None:
    """The ASGI TLS extension for a completed handshake; None when not TLS.

    ``client_cert_chain`` holds the peer certificate (PEM) only when the server context
    asked for one and verified it (``CERT_REQUIRED``/``CERT_OPTIONAL``: a certificate that
    does not chain to ``ssl_ca_certs`` fails the handshake); otherwise it is empty.
    Python exposes only the leaf of the verified chain, so the chain has one entry.
    """
    if ssl_object is None:
        return None
    chain: list[str] = []
    if ssl_object.context.verify_mode in (ssl.CERT_REQUIRED, ssl.CERT_OPTIONAL):
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            chain.append(ssl.DER_cert_to_PEM_cert(der))
    version = ssl_object.version()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(version) if version else None,
        "cipher_suite": None,
    }


class VallumHttpProtocol(HttpToolsProtocol):
    """uvicorn's ``httptools`` protocol on a ``CoalescingTransport``, guarded.

    A response's last write is flushed as soon as uvicorn marks the response complete, so
    the client does not wait for the app's bookkeeping after it (``on_complete`` layers).

    With a ``ConnectionGuard`` (``protocol_factory``) it also enforces, before a request
    reaches the application: the connection caps (503, then close); the head size as the
    bytes arrive (431 at ``max_header_bytes``, never buffering much more); a deadline for
    the whole head (408) and an idle limit between body bytes (408). Fields of a chunked
    body's trailer are dropped, whatever the packet split: they never act as headers.
    """

    _coalescer: CoalescingTransport | None = None
    _tls: dict[str, Any] | None = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        guard: ConnectionGuard | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard = guard
        self._limits = guard.limits if guard is not None else ConnectionLimits()
        self._counted: str | None = None  # the address admit() counted, "" when exempt/none
        self._refused = False
        self._in_head = True  # reading a request head (or waiting for one)
        self._head_bytes = 0
        self._tail_bytes = 0  # bytes after the head: body, chunk framing, trailer
        self._body_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # the handshake is complete before connection_made: one certificate per connection
        self._tls = tls_extension(transport.get_extra_info("ssl_object"))
        self._coalescer = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(self._coalescer)  # type: ignore[arg-type]
        if self._guard is not None:
            peer = self.client[0] if self.client else None
            reason = self._guard.admit(peer)
            if reason is not None:
                self._refused = True
                self._refuse(503, reason, "The gateway has too many open connections.")
                return
            self._counted = peer or ""
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._guard is not None and self._counted is not None:
            self._guard.release(self._counted or None)
            self._counted = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm_head_timer()
        else:
            self._tail_bytes += len(data)
            self._arm_body_timer()
        super().data_received(data)
        self._check_sizes()

    def _check_sizes(self) -> None:
        """Checked after each feed: at most one read's worth past the limit is parsed."""
        if self.transport.is_closing():
            return
        limit = self._limits.max_header_bytes
        if self._in_head and self._head_bytes > limit:
            self._refuse(431, "headers_too_large", "The request headers are too large.")
        elif not self._in_head and self._tail_bytes > limit + 2 * self._body_bytes:
            # what is not body after the head (chunk framing, trailer) is bounded like a head
            self._refuse(431, "trailer_too_large", "The chunked body's framing is too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:  # a fresh copy per request: the app may not alter the next
            tls: dict[object, object] = dict(self._tls.items())
            tls["client_cert_chain"] = list(self._tls["client_cert_chain"])
            self.scope["extensions"] = {"tls": tls}

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_head:  # a trailer field (after the head) is never a header
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._tail_bytes = self._body_bytes = 0
        self._cancel_head_timer()
        self._arm_body_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._cancel_body_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._coalescer is not None:
            self._coalescer.flush()
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        # unparseable HTTP: the error shape of every other refusal, not uvicorn's plain text
        self._refuse(400, "invalid_http", "The request is not valid HTTP/1.1.")

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer with an error and close, unless a response has started (then only close)."""
        self._cancel_timers()
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            request_id = new_request_id()
            peer = self.client[0] if self.client else None
            log.warning(
                "connection refused", extra={"code": code, "request_id": request_id, "peer": peer}
            )
            kind = "api_error" if status >= 500 else "invalid_request_error"
            url: bytes = getattr(self, "url", b"")
            transport.write(raw_error(Deny(status, code, message, kind), url, request_id))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app reads a disconnect; what it sends is dropped
            cycle.message_event.set()
        transport.close()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self._limits.head_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            self._arm_head_timer()  # a pipelined head waits for the response before it
            return
        self._refuse(408, "head_timeout", "The request head was not received in time.")

    def _arm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(
            self._limits.body_idle_timeout, self._body_timed_out
        )

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.flow is not None and self.flow.read_paused:
            self._arm_body_timer()  # the application has not read what came: not the client
            return
        self._refuse(408, "body_timeout", "The request body stalled.")

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()


def protocol_factory(limits: ConnectionLimits) -> Callable[..., VallumHttpProtocol]:
    """The ``http`` option for uvicorn: protocols of one listener share one guard."""
    return functools.partial(VallumHttpProtocol, guard=ConnectionGuard(limits))
