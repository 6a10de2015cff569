"""What one listener allows a client connection: head size, read timeouts, connection caps.

``ConnectionGuard`` counts the open connections of a listener, in all and per client
address (the TCP peer; peers in ``server.trusted_proxies`` count only in all), and
``raw_error`` writes the refusals the HTTP protocol sends before any request reaches
the application, in the OpenAI error shape (Anthropic's for ``/v1/messages``).
"""

from __future__ import annotations

import ipaddress
import os
import resource
from dataclasses import dataclass

from vallum.config.models import GatewayConfig
from vallum.pipeline.exchange import WireFormat
from vallum.pipeline.layer import Deny
from vallum.proxy.wire_errors import error_body

__all__ = ["ConnectionGuard", "ConnectionLimits", "fd_headroom", "new_request_id", "raw_error"]

# File descriptors kept back for upstream sockets, storage pools, logs and the admin listener.
_FD_RESERVE = 256
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The settings a listener's protocol enforces (from ``limits`` and ``timeouts``)."""

    max_header_bytes: int = 32 * 1024
    head_timeout: float = 10.0
    body_idle_timeout: float = 30.0
    max_connections: int = 4096
    max_connections_per_client: int = 256
    exempt: tuple[_Network, ...] = ()

    @classmethod
    def from_config(cls, config: GatewayConfig) -> ConnectionLimits:
        limits, timeouts = config.limits, config.timeouts
        return cls(
            max_header_bytes=limits.max_header_bytes,
            head_timeout=timeouts.client_head,
            body_idle_timeout=timeouts.client_body_idle,
            max_connections=min(limits.max_connections, fd_headroom()),
            max_connections_per_client=limits.max_connections_per_client,
            exempt=tuple(
                ipaddress.ip_network(cidr, strict=False) for cidr in config.server.trusted_proxies
            ),
        )


def fd_headroom() -> int:
    """Connections this process can hold: the soft file-descriptor limit less a reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(16, soft - _FD_RESERVE)


class ConnectionGuard:
    """Open connections of one listener, in all and per client address (one event loop)."""

    __slots__ = ("_per_client", "limits", "total")

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.total = 0
        self._per_client: dict[str, int] = {}

    def admit(self, address: str | None) -> str | None:
        """Count a new connection; or the reason it is refused (then it is not counted)."""
        if self.total >= self.limits.max_connections:
            return "too_many_connections"
        key = None if address is None or self._exempt(address) else address
        if key is not None:
            held = self._per_client.get(key, 0)
            if held >= self.limits.max_connections_per_client:
                return "too_many_client_connections"
            self._per_client[key] = held + 1
        self.total += 1
        return None

    def release(self, address: str | None) -> None:
        """Forget a connection that ``admit`` counted."""
        self.total -= 1
        if address is None:
            return
        held = self._per_client.get(address)
        if held is None:
            return
        if held <= 1:
            del self._per_client[address]
        else:
            self._per_client[address] = held - 1

    def held_by(self, address: str) -> int:
        return self._per_client.get(address, 0)

    def _exempt(self, address: str) -> bool:
        if not self.limits.exempt:
            return False
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.limits.exempt)


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


def raw_error(deny: Deny, url: bytes, request_id: str) -> bytes:
    """A whole HTTP/1.1 error response that closes the connection."""
    wire = WireFormat.ANTHROPIC if url.startswith(b"/v1/messages") else WireFormat.OPENAI
    body = error_body(wire, deny, request_id)
    reason = _REASONS.get(deny.status, b"Error")
    extra = b"".join(
        k.lower().encode("latin-1") + b": " + v.encode("latin-1") + b"\r\n"
        for k, v in deny.headers.items()
    )
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (deny.status, reason),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-request-id: " + request_id.encode("ascii") + b"\r\n",
            extra,
            b"connection: close\r\n\r\n",
            body,
        )
    )


_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}
