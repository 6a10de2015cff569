"""The storage abilities every backend provides: narrow Protocols and their value types."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from vallum.errors import ConfigError

__all__ = [
    "CounterHit",
    "Counters",
    "HitResult",
    "KeyValue",
    "LogEntry",
    "PubSub",
    "RecordLog",
    "Storage",
    "Subscription",
]


@dataclass(frozen=True, slots=True)
class CounterHit:
    """One request to spend ``cost`` from ``key``'s budget of ``limit`` per ``window`` seconds."""

    key: str
    limit: int
    window: float
    cost: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.window) and self.window > 0):
            raise ConfigError("counter window must be a positive number of seconds")
        if self.limit < 0 or self.cost < 0:
            raise ConfigError("counter limit and cost must not be negative")


@dataclass(frozen=True, slots=True)
class HitResult:
    """Outcome of one hit.

    ``used`` is the window's usage after the hit (before it, when refused). ``reset_after``
    is, when allowed, the seconds until the usage drains to zero; when refused, the seconds
    until the same hit would fit if nothing else happened (0.0 for a hit that fitted but was
    refused because another hit of the same ``hit_many`` did not).
    """

    allowed: bool
    used: int
    remaining: int
    reset_after: float


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One record of a stream: its sequence number (from 1), bytes, and append time."""

    seq: int
    record: bytes
    at: float


class Counters(Protocol):
    """Atomic sliding-window counters (two-bucket weighted window)."""

    async def hit(self, key: str, *, cost: int = 1, limit: int, window: float) -> HitResult:
        """Record ``cost`` if it fits under ``limit``; record nothing otherwise."""
        ...

    async def hit_many(self, hits: Sequence[CounterHit]) -> list[HitResult]:
        """All or nothing: record every hit if all fit, none otherwise; one round trip."""
        ...

    async def add(self, key: str, amount: int, *, window: float) -> int:
        """Add ``amount`` unconditionally (may be negative) and return the new usage."""
        ...

    async def get(self, key: str, *, window: float) -> int:
        """Current usage of ``key`` in its sliding window."""
        ...


class KeyValue(Protocol):
    """Bytes by key, with optional time-to-live in seconds."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed."""
        ...

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, *, ttl: float | None = None
    ) -> bool:
        """Set ``new`` only if the value is ``expected`` (``None``: only if absent)."""
        ...

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add to an integer value (absent = 0); ``ttl`` applies only when this creates it."""
        ...

    async def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        """Every live ``(key, value)`` whose key starts with ``prefix``, in key order (for
        listings and bulk loads: one round trip or query per batch, not one per key)."""
        ...


class RecordLog(Protocol):
    """Append-only streams of records with per-stream sequence numbers 1, 2, 3, ..."""

    async def append(self, stream: str, record: bytes) -> int: ...

    async def read(self, stream: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]: ...

    async def last_seq(self, stream: str) -> int: ...


class Subscription(Protocol):
    """Messages of one channel, in order; an async iterator and an async context manager."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __anext__(self) -> bytes: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class PubSub(Protocol):
    """Fire-and-forget fan-out: subscribers receive messages published after they subscribed."""

    async def publish(self, channel: str, message: bytes) -> None: ...

    async def subscribe(self, channel: str) -> Subscription: ...


class Storage(Protocol):
    """One opened backend: four abilities and a lifecycle."""

    @property
    def backend(self) -> str:
        """``memory``, ``sqlite``, ``redis`` or ``postgres``."""
        ...

    @property
    def namespace(self) -> str: ...

    @property
    def counters(self) -> Counters: ...

    @property
    def kv(self) -> KeyValue: ...

    @property
    def log(self) -> RecordLog: ...

    @property
    def pubsub(self) -> PubSub: ...

    async def close(self) -> None: ...

    async def drop_namespace(self) -> None:
        """Delete everything stored under this namespace (tests and cleanup)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
