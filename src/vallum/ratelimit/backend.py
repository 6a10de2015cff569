"""The limit backend interface (reserve, settle, renew, release: each atomic) and its choice.

``memory://`` (and ``sqlite://`` with one worker) count in this process; ``redis://`` counts
in Redis, shared by every instance. Any other backend is refused at start-up: limits are
never silently counted per instance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from vallum.errors import ConfigError, DependencyMissingError
from vallum.ratelimit.spec import Charge, Verdict
from vallum.storage import redact_url

__all__ = ["Adjustment", "LimitBackend", "open_backend"]


class Adjustment(NamedTuple):
    """Settle one window counter: add ``delta`` to the bucket the reservation went into."""

    key: str
    period: float
    delta: int
    bucket: int

    @classmethod
    def of(cls, key: str, period: float, delta: int, reserved_at: float) -> Adjustment:
        return cls(key, period, delta, math.floor(reserved_at / period))


class LimitBackend(Protocol):
    """Atomic, all-or-nothing limit counting."""

    @property
    def name(self) -> str: ...

    async def reserve(
        self, charges: Sequence[Charge], lease_id: str, now: float, lease_ttl: float
    ) -> Verdict:
        """Charge every counter if all have room, none otherwise (one round trip)."""
        ...

    async def settle(
        self, adjustments: Sequence[Adjustment], lease_keys: Sequence[str], lease_id: str
    ) -> None:
        """Correct window counters to real usage and release leases (one round trip).

        A backend may return once the command is on its way, if every later command of
        this instance runs after it; it then logs a failure it learns of later.
        """
        ...

    async def renew(self, leases: Sequence[tuple[str, str]], now: float, lease_ttl: float) -> int:
        """Give each live lease ``(lease key, lease id)`` the expiry ``now + lease_ttl``;
        released or expired ones stay gone. Returns how many were renewed."""
        ...

    async def release(
        self, leases: Sequence[tuple[Sequence[str], str]], now: float, lease_ttl: float
    ) -> None:
        """Free each ``(lease keys, lease id)`` whatever became of its reserve (idempotent,
        one round trip): a reserve with such a lease id that lands later (it timed out
        here, but reached the backend) takes nothing. For calls whose reserve or settle
        failed."""
        ...

    async def close(self) -> None: ...


def open_backend(
    url: str,
    *,
    prefix: str,
    workers: int = 1,
    timeout: float = 1.0,
    on_lost: Callable[[Sequence[str], str], None] | None = None,
) -> LimitBackend:
    """The backend named by ``url``'s scheme (``storage.counters_url`` unless overridden).

    ``on_lost(lease_keys, lease_id)``: called when a settle sent without waiting failed
    later, so the caller can release the leases by id (in-process backends never fail)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory" or (scheme == "sqlite" and workers == 1):
        from vallum.ratelimit.memory import MemoryLimits

        return MemoryLimits()
    if scheme in ("redis", "rediss"):
        try:
            from vallum.ratelimit.redis_backend import RedisLimits
        except ImportError as exc:
            raise DependencyMissingError(
                "the redis rate-limit backend needs: pip install 'vallum[redis]'"
            ) from exc
        return RedisLimits(url, prefix=prefix, timeout=timeout, on_lost=on_lost)
    raise ConfigError(
        "the ratelimit layer needs counters in memory:// (one process) or redis:// "
        "(shared); it never counts per instance behind a shared store",
        context={"url": redact_url(url)},
    )
