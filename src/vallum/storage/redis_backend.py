"""Redis storage (``redis://``, ``rediss://``): counters, hot state and fan-out for instances.

Every multi-step operation is one Lua script (packaged in ``lua/``), so it is atomic
across instances. Scripts take the caller's clock time as an argument: instances must
run with synchronised clocks, and tests can drive Redis with a fake clock. Key-value
TTLs are native Redis expiry (``PX``), i.e. real time, not the injected clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from vallum.clock import Clock
from vallum.errors import ConfigError
from vallum.storage._support import load_lua, redact_url, unavailable
from vallum.storage._window import WindowState, results, usage
from vallum.storage.base import CounterHit, HitResult, LogEntry

__all__ = ["RedisStorage", "open_redis"]

_T = TypeVar("_T")
_SCAN_BATCH = 500
_GLOB = re.compile(r"[*?\[\]\\]")  # characters SCAN MATCH treats as a pattern
_SCRIPTS = ("counter_add", "counter_hit", "kv_cas", "kv_incr", "log_append")


async def _call(op: str, awaitable: Awaitable[_T]) -> _T:
    try:
        return await awaitable
    except (RedisError, OSError) as exc:
        raise unavailable("redis", op) from exc


async def _collect(names: AsyncIterator[Any]) -> list[Any]:
    return [name async for name in names]


def _ttl_ms(ttl: float | None) -> str:
    return "" if ttl is None else str(max(1, math.ceil(ttl * 1000)))


class _Redis:
    """The client, registered scripts, clock and key prefix shared by the abilities."""

    def __init__(self, client: aioredis.Redis, namespace: str, clock: Clock) -> None:
        self.client = client
        self.prefix = namespace + ":"
        self.clock = clock
        self.scripts = {name: client.register_script(load_lua(name)) for name in _SCRIPTS}

    async def run(self, op: str, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await _call(op, self.scripts[script](keys=list(keys), args=list(args)))


class RedisCounters:
    def __init__(self, r: _Redis) -> None:
        self._r = r

    def _key(self, key: str) -> str:
        return f"{self._r.prefix}c:{key}"

    async def hit(self, key: str, *, cost: int = 1, limit: int, window: float) -> HitResult:
        return (await self.hit_many([CounterHit(key, limit, window, cost)]))[0]

    async def hit_many(self, hits: Sequence[CounterHit]) -> list[HitResult]:
        if not hits:
            return []
        now = self._r.clock.now()
        args: list[Any] = [repr(now)]
        for h in hits:
            args += [h.cost, h.limit, repr(float(h.window))]
        reply = await self._r.run(
            "counters.hit", "counter_hit", [self._key(h.key) for h in hits], args
        )
        counts = [int(v) for v in reply[1:]]
        snapshots = list(zip(counts[0::2], counts[1::2], strict=True))
        return results(hits, snapshots, now, bool(int(reply[0])))

    async def add(self, key: str, amount: int, *, window: float) -> int:
        CounterHit(key, 0, window)
        now = self._r.clock.now()
        args = [repr(now), amount, repr(float(window))]
        prev, curr = await self._r.run("counters.add", "counter_add", [self._key(key)], args)
        return usage(int(prev), int(curr), now, window)

    async def get(self, key: str, *, window: float) -> int:
        CounterHit(key, 0, window)
        now = self._r.clock.now()
        raw: list[Any] = await _call(
            "counters.get", self._r.client.hmget(self._key(key), ["b", "p", "c"])
        )
        stored = None if raw[0] is None else WindowState(*(int(v) for v in raw))
        state = WindowState.at(stored, now, window)
        return usage(state.prev, state.curr, now, window)


class RedisKeyValue:
    def __init__(self, r: _Redis) -> None:
        self._r = r

    def _key(self, key: str) -> str:
        return f"{self._r.prefix}kv:{key}"

    async def get(self, key: str) -> bytes | None:
        value: Any = await _call("kv.get", self._r.client.get(self._key(key)))
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        px = None if ttl is None else max(1, math.ceil(ttl * 1000))
        await _call("kv.set", self._r.client.set(self._key(key), value, px=px))

    async def delete(self, key: str) -> bool:
        return bool(await _call("kv.delete", self._r.client.delete(self._key(key))))

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, *, ttl: float | None = None
    ) -> bool:
        mode = "absent" if expected is None else "equal"
        args = [mode, expected or b"", new, _ttl_ms(ttl)]
        return bool(await self._r.run("kv.compare_and_set", "kv_cas", [self._key(key)], args))

    async def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        """SCAN then MGET in batches (not one snapshot: a key written meanwhile may or may
        not be listed; a key deleted meanwhile is left out)."""
        client, start = self._r.client, len(self._key(""))
        pattern = _GLOB.sub(r"\\\g<0>", self._key(prefix)) + "*"
        names: Any = await _call(
            "kv.scan", _collect(client.scan_iter(match=pattern, count=_SCAN_BATCH))
        )
        found: list[tuple[str, bytes]] = []
        ordered = sorted({bytes(n) for n in names})
        for first in range(0, len(ordered), _SCAN_BATCH):
            batch = ordered[first : first + _SCAN_BATCH]
            values: Any = await _call("kv.scan", client.mget(batch))
            found += [
                (name[start:].decode(), bytes(value))
                for name, value in zip(batch, values, strict=True)
                if value is not None
            ]
        return found

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        args = [amount, _ttl_ms(ttl)]
        return int(await self._r.run("kv.incr", "kv_incr", [self._key(key)], args))


class RedisRecordLog:
    def __init__(self, r: _Redis) -> None:
        self._r = r

    def _keys(self, stream: str) -> list[str]:
        return [f"{self._r.prefix}logseq:{stream}", f"{self._r.prefix}log:{stream}"]

    async def append(self, stream: str, record: bytes) -> int:
        args = [record, repr(self._r.clock.now())]
        return int(await self._r.run("log.append", "log_append", self._keys(stream), args))

    async def read(self, stream: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
        if limit <= 0:
            return []
        start = f"{max(0, after) + 1}-0"
        rows: Any = await _call(
            "log.read", self._r.client.xrange(self._keys(stream)[1], start, "+", count=limit)
        )
        return [
            LogEntry(int(entry_id.split(b"-")[0]), bytes(fields[b"r"]), float(fields[b"at"]))
            for entry_id, fields in rows
        ]

    async def last_seq(self, stream: str) -> int:
        value: Any = await _call("log.last_seq", self._r.client.get(self._keys(stream)[0]))
        return 0 if value is None else int(value)


class RedisSubscription:
    """One Redis SUBSCRIBE connection for one channel."""

    def __init__(self, pubsub: Any, owner: RedisPubSub) -> None:
        self._pubsub = pubsub
        self._owner = owner
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        while not self._closed:
            message = await _call(
                "pubsub.receive",
                self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0),
            )
            if message is not None and message["type"] == "message":
                return bytes(message["data"])
        raise StopAsyncIteration

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._owner.forget(self)
            await _call("pubsub.close", self._pubsub.aclose())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class RedisPubSub:
    def __init__(self, r: _Redis) -> None:
        self._r = r
        self._open: set[RedisSubscription] = set()

    def _new(self) -> Any:
        return self._r.client.pubsub()

    def _channel(self, channel: str) -> str:
        return f"{self._r.prefix}ps:{channel}"

    async def publish(self, channel: str, message: bytes) -> None:
        await _call("pubsub.publish", self._r.client.publish(self._channel(channel), message))

    async def subscribe(self, channel: str) -> RedisSubscription:
        pubsub = self._new()
        try:
            await _call("pubsub.subscribe", pubsub.subscribe(self._channel(channel)))
            # wait for the confirmation, so a publish after this returns is delivered
            confirmed = await _call("pubsub.subscribe", pubsub.get_message(timeout=5.0))
        except BaseException:
            await pubsub.aclose()
            raise
        if confirmed is None or confirmed["type"] != "subscribe":
            await pubsub.aclose()
            raise unavailable("redis", "pubsub.subscribe")
        subscription = RedisSubscription(pubsub, self)
        self._open.add(subscription)
        return subscription

    def forget(self, subscription: RedisSubscription) -> None:
        self._open.discard(subscription)

    async def close_all(self) -> None:
        for subscription in list(self._open):
            await subscription.close()


class RedisStorage:
    """All four abilities on one Redis database, keys prefixed ``<namespace>:``."""

    backend = "redis"

    def __init__(self, r: _Redis, namespace: str) -> None:
        self.namespace = namespace
        self._r = r
        self.counters = RedisCounters(r)
        self.kv = RedisKeyValue(r)
        self.log = RedisRecordLog(r)
        self.pubsub = RedisPubSub(r)

    async def close(self) -> None:
        try:
            await self.pubsub.close_all()
        finally:
            await _call("close", self._r.client.aclose())

    async def drop_namespace(self) -> None:
        client = self._r.client
        try:
            keys = [key async for key in client.scan_iter(match=self._r.prefix + "*", count=500)]
            for start in range(0, len(keys), 500):
                await client.unlink(*keys[start : start + 500])
        except (RedisError, OSError) as exc:
            raise unavailable("redis", "drop_namespace") from exc

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def open_redis(url: str, *, clock: Clock, namespace: str) -> RedisStorage:
    """Build a client; nothing is sent until first use (a down Redis fails then, not here)."""
    try:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    except ValueError as exc:
        raise ConfigError(
            "invalid Redis URL", context={"backend": "redis", "url": redact_url(url)}
        ) from exc
    return RedisStorage(_Redis(client, namespace, clock), namespace)
