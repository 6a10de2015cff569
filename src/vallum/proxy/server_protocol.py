"""uvicorn's httptools protocol, with the writes of one event-loop step sent as one.

uvicorn writes a response head and each body part with separate ``transport.write``
calls: a JSON response is two ``write()`` system calls, a short stream three or more.
On loopback each write that reaches an idle reader also wakes it (on a VM an
inter-processor interrupt), and the client parses a head before it blocks again for
the body. ``CoalescingTransport`` keeps what one step of the event loop writes and
sends it as one ``write()`` at the next iteration (``call_soon``), or at once when it
passes ``FLUSH_BYTES`` or the transport is closed. Nothing waits on a timer: the bytes
leave before the loop polls for I/O again. Measured in docs/performance.md.

On a TLS connection ``VallumHttpProtocol`` also puts the handshake's verified client
certificate into each request's scope, in the ASGI TLS extension's shape
(``scope["extensions"]["tls"]``), which uvicorn itself does not fill.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["FLUSH_BYTES", "CoalescingTransport", "VallumHttpProtocol", "tls_extension"]

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
    """uvicorn's ``httptools`` protocol on a ``CoalescingTransport``.

    A response's last write is flushed as soon as uvicorn marks the response complete, so
    the client does not wait for the app's bookkeeping after it (``on_complete`` layers).
    """

    _coalescer: CoalescingTransport | None = None
    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # the handshake is complete before connection_made: one certificate per connection
        self._tls = tls_extension(transport.get_extra_info("ssl_object"))
        self._coalescer = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(self._coalescer)  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:  # a fresh copy per request: the app may not alter the next
            tls: dict[object, object] = dict(self._tls.items())
            tls["client_cert_chain"] = list(self._tls["client_cert_chain"])
            self.scope["extensions"] = {"tls": tls}

    def on_response_complete(self) -> None:
        if self._coalescer is not None:
            self._coalescer.flush()
        super().on_response_complete()
