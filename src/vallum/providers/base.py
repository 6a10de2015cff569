"""What crosses the upstream boundary: the request Vallum sends and the response it gets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

__all__ = ["UpstreamRequest", "UpstreamResponse"]


@dataclass(slots=True)
class UpstreamRequest:
    """One HTTP call to a model provider, already fully decided by Vallum (never by the client)."""

    method: str
    url: str  # absolute URL built from the configured base URL, never from client input
    headers: list[tuple[str, str]]
    body: bytes
    stream: bool = False


@dataclass(slots=True)
class UpstreamResponse:
    """The provider's answer: either a whole ``body`` or a ``stream`` of raw bytes (SSE)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None
