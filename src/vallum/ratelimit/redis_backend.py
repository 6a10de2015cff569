"""Shared limits in Redis: one Lua script per reserve and per settle (one round trip each).

Every key of the layer carries the same hash tag ``{<prefix>:rl}``, so on Redis Cluster
a script's keys always live in one slot (the cost: all limit counters share one shard).
Scripts take the caller's clock, so instances need synchronised clocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from vallum.errors import ConfigError, StorageError
from vallum.ratelimit.backend import Adjustment
from vallum.ratelimit.spec import Charge, CounterState, Verdict
from vallum.storage import redact_url

__all__ = ["RedisLimits", "load_script"]

_ALGORITHM_CODE = {"rate": "r", "window": "w", "lease": "l"}


def load_script(name: str) -> str:
    """A packaged Lua script ``vallum/ratelimit/lua/<name>.lua``."""
    return resources.files("vallum.ratelimit").joinpath("lua", f"{name}.lua").read_text("utf-8")


def _seconds(value: Any) -> float:
    ms = int(value)
    return math.inf if ms < 0 else ms / 1000


class RedisLimits:
    """Limits on one Redis (or Redis Cluster slot), shared by every instance using it."""

    name = "redis"

    def __init__(self, url: str, *, prefix: str, timeout: float = 1.0) -> None:
        try:
            self._client = aioredis.Redis.from_url(
                url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
        except ValueError as exc:
            raise ConfigError("invalid Redis URL", context={"url": redact_url(url)}) from exc
        self.tag = "{" + prefix + ":rl}:"
        self._reserve = self._client.register_script(load_script("reserve"))
        self._settle = self._client.register_script(load_script("settle"))

    async def reserve(
        self, charges: Sequence[Charge], lease_id: str, now: float, lease_ttl: float
    ) -> Verdict:
        keys = [self.tag + charge.limit.key for charge in charges]
        args: list[Any] = [repr(now), lease_id, repr(float(lease_ttl))]
        for charge in charges:
            limit = charge.limit
            code = _ALGORITHM_CODE[limit.measure.algorithm]
            args += [code, limit.limit, repr(float(limit.period)), charge.cost]
        reply = await self._run("ratelimit.reserve", self._reserve, keys, args)
        states = tuple(
            CounterState(
                bool(int(reply[i])),
                int(reply[i + 1]),
                _seconds(reply[i + 2]),
                _seconds(reply[i + 3]) if int(reply[i]) == 0 else 0.0,
            )
            for i in range(1, len(reply), 4)
        )
        return Verdict(bool(int(reply[0])), states)

    async def settle(
        self, adjustments: Sequence[Adjustment], lease_keys: Sequence[str], lease_id: str
    ) -> None:
        if not adjustments and not lease_keys:
            return
        keys = [self.tag + a.key for a in adjustments] + [self.tag + k for k in lease_keys]
        args: list[Any] = [lease_id, len(adjustments)]
        for a in adjustments:
            args += [repr(float(a.period)), a.delta, a.bucket]
        await self._run("ratelimit.settle", self._settle, keys, args)

    async def _run(self, op: str, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise StorageError(
                "rate-limit backend unavailable", context={"backend": "redis", "op": op}
            ) from exc

    async def drop(self) -> None:
        """Delete every counter under this prefix (tests and cleanup)."""
        try:
            keys = [key async for key in self._client.scan_iter(match=self.tag + "*", count=500)]
            for start in range(0, len(keys), 500):
                await self._client.unlink(*keys[start : start + 500])
        except (RedisError, OSError) as exc:
            raise StorageError("rate-limit backend unavailable") from exc

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except (RedisError, OSError) as exc:
            raise StorageError("rate-limit backend unavailable") from exc
