"""In-process storage (``memory://``): one process, nothing shared, nothing durable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from vallum.clock import Clock
from vallum.errors import StorageError
from vallum.storage._window import WindowState, apply_hits, usage
from vallum.storage.base import CounterHit, HitResult, LogEntry

__all__ = ["LocalPubSub", "LocalSubscription", "MemoryStorage"]

_QUEUE_SIZE = 1024  # per subscriber; a consumer that falls this far behind loses the oldest


class LocalSubscription:
    """A subscriber's queue inside one process."""

    def __init__(self, hub: LocalPubSub, channel: str) -> None:
        self._hub = hub
        self._channel = channel
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUE_SIZE)
        self._closed = False

    def deliver(self, message: bytes | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(message)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        message = await self._queue.get()
        if message is None:
            raise StopAsyncIteration
        return message

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub.unsubscribe(self._channel, self)
            self.deliver(None)  # wake a reader blocked in __anext__

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class LocalPubSub:
    """Fan-out to the subscribers of this object only (not across processes)."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[LocalSubscription]] = {}

    async def publish(self, channel: str, message: bytes) -> None:
        for subscription in list(self._subscribers.get(channel, ())):
            subscription.deliver(message)

    async def subscribe(self, channel: str) -> LocalSubscription:
        subscription = LocalSubscription(self, channel)
        self._subscribers.setdefault(channel, set()).add(subscription)
        return subscription

    def unsubscribe(self, channel: str, subscription: LocalSubscription) -> None:
        subscribers = self._subscribers.get(channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[channel]

    async def close_all(self) -> None:
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                await subscription.close()


@dataclass
class _MemoryState:
    clock: Clock
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    windows: dict[str, WindowState] = field(default_factory=dict)
    values: dict[str, tuple[bytes, float | None]] = field(default_factory=dict)
    streams: dict[str, list[LogEntry]] = field(default_factory=dict)


class MemoryCounters:
    def __init__(self, state: _MemoryState) -> None:
        self._state = state

    async def hit(self, key: str, *, cost: int = 1, limit: int, window: float) -> HitResult:
        return (await self.hit_many([CounterHit(key, limit, window, cost)]))[0]

    async def hit_many(self, hits: Sequence[CounterHit]) -> list[HitResult]:
        if not hits:
            return []
        async with self._state.lock:
            now = self._state.clock.now()
            stored = {h.key: self._state.windows.get(h.key) for h in hits}
            allowed, states, out = apply_hits(stored, hits, now)
            if allowed:
                self._state.windows.update(states)
            return out

    async def add(self, key: str, amount: int, *, window: float) -> int:
        CounterHit(key, 0, window)  # validates the window
        async with self._state.lock:
            now = self._state.clock.now()
            state = WindowState.at(self._state.windows.get(key), now, window)
            state.curr = max(0, state.curr + amount)
            self._state.windows[key] = state
            return usage(state.prev, state.curr, now, window)

    async def get(self, key: str, *, window: float) -> int:
        CounterHit(key, 0, window)
        now = self._state.clock.now()
        state = WindowState.at(self._state.windows.get(key), now, window)
        return usage(state.prev, state.curr, now, window)


class MemoryKeyValue:
    def __init__(self, state: _MemoryState) -> None:
        self._state = state

    def _live(self, key: str) -> bytes | None:
        entry = self._state.values.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= self._state.clock.now():
            del self._state.values[key]
            return None
        return value

    def _put(self, key: str, value: bytes, ttl: float | None) -> None:
        expires_at = None if ttl is None else self._state.clock.now() + ttl
        self._state.values[key] = (bytes(value), expires_at)

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self._put(key, value, ttl)

    async def delete(self, key: str) -> bool:
        found = self._live(key) is not None
        self._state.values.pop(key, None)
        return found

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, *, ttl: float | None = None
    ) -> bool:
        if self._live(key) != expected:
            return False
        self._put(key, new, ttl)
        return True

    async def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        found = [k for k in self._state.values if k.startswith(prefix)]
        pairs = [(k, self._live(k)) for k in sorted(found)]
        return [(k, v) for k, v in pairs if v is not None]

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        current = self._live(key)
        if current is None:
            self._put(key, str(amount).encode(), ttl)
            return amount
        try:
            value = int(current) + amount
        except ValueError as exc:
            raise StorageError(
                "value is not an integer", context={"backend": "memory", "op": "kv.incr"}
            ) from exc
        self._state.values[key] = (str(value).encode(), self._state.values[key][1])
        return value


class MemoryRecordLog:
    def __init__(self, state: _MemoryState) -> None:
        self._state = state

    async def append(self, stream: str, record: bytes) -> int:
        entries = self._state.streams.setdefault(stream, [])
        seq = len(entries) + 1
        entries.append(LogEntry(seq, bytes(record), self._state.clock.now()))
        return seq

    async def read(self, stream: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
        entries = self._state.streams.get(stream, [])
        start = max(0, after)
        return entries[start : start + max(0, limit)]

    async def last_seq(self, stream: str) -> int:
        return len(self._state.streams.get(stream, []))


class MemoryStorage:
    """All four abilities in this process's memory."""

    backend = "memory"

    def __init__(self, clock: Clock, namespace: str) -> None:
        self.namespace = namespace
        self._state = _MemoryState(clock)
        self.counters = MemoryCounters(self._state)
        self.kv = MemoryKeyValue(self._state)
        self.log = MemoryRecordLog(self._state)
        self.pubsub = LocalPubSub()

    async def close(self) -> None:
        await self.pubsub.close_all()

    async def drop_namespace(self) -> None:
        self._state.windows.clear()
        self._state.values.clear()
        self._state.streams.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
