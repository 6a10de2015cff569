"""Concurrency leases kept alive while their calls run, and released for sure when they end.

Leases are short (``lease_ttl``, 30 s by default) and renewed every third of it, in one
backend call for every call in flight on this instance, so the slots of an instance that
died free within ``lease_ttl``. A lease whose reserve or settle failed (a Redis stall or
outage) is released by its id in the background, retried until it lands or the lease
would have expired anyway; a reserve that timed out but ran in Redis later then takes
nothing (see ``LimitBackend.release``). All such leases are released together, in one
backend call per try (an outage that fails thousands of calls costs one retry loop, not
one per call), and at most ``_MAX_PENDING`` are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from vallum.clock import Clock
from vallum.errors import StorageError
from vallum.ratelimit.backend import LimitBackend

__all__ = ["LeaseKeeper"]

log = logging.getLogger("vallum.ratelimit")

_FIRST_RETRY = 0.1  # seconds before the first retry of a release; doubles up to _MAX_RETRY
_MAX_RETRY = 1.0
_BATCH = 256  # leases released per backend call
_MAX_PENDING = 100_000  # leases waiting for release; beyond, they expire by their TTL


class LeaseKeeper:
    """Renews the live leases ``live()`` lists; releases failed ones until they land."""

    def __init__(
        self,
        backend: LimitBackend,
        clock: Clock,
        lease_ttl: float,
        live: Callable[[], list[tuple[str, str]]],
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.lease_ttl = lease_ttl
        self.renew_every = lease_ttl / 3
        self.renewals = 0  # backend renew calls made (metrics and tests)
        self._live = live
        self._renewer: asyncio.Task[None] | None = None
        self._releaser: asyncio.Task[None] | None = None
        # lease id -> (its lease keys, when to give up: it has expired by its TTL then)
        self._unreleased: dict[str, tuple[tuple[str, ...], float]] = {}

    def start(self) -> None:
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._renewer, self._releaser) if t is not None]
        self._renewer = self._releaser = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._unreleased.clear()

    @property
    def releasing(self) -> int:
        """Leases waiting to be released."""
        return len(self._unreleased)

    def release_later(self, lease_keys: Sequence[str], lease_id: str) -> None:
        """Release ``lease_id`` in the background, retrying until it lands."""
        if not lease_keys or len(self._unreleased) >= _MAX_PENDING:
            return
        give_up = self.clock.monotonic() + self.lease_ttl
        self._unreleased[lease_id] = (tuple(lease_keys), give_up)
        if self._releaser is None or self._releaser.done():
            self._releaser = asyncio.create_task(self._release_loop())

    async def renew_now(self) -> int:
        """One renewal of every live lease (the loop's step); how many were renewed."""
        leases = self._live()
        if not leases:
            return 0
        self.renewals += 1
        return await self.backend.renew(leases, self.clock.now(), self.lease_ttl)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await self.renew_now()
            except StorageError:
                log.warning("rate-limit leases not renewed; retrying at the next interval")

    async def _release_loop(self) -> None:
        """Release what waits, a batch per call, until nothing does; after a failure, wait
        (0.1 s, doubling to 1 s) and drop the leases that have expired by their TTL."""
        delay = _FIRST_RETRY
        while self._unreleased:
            batch = list(self._unreleased.items())[:_BATCH]
            try:
                leases = [(keys, lease_id) for lease_id, (keys, _) in batch]
                await self.backend.release(leases, self.clock.now(), self.lease_ttl)
            except StorageError:
                now = self.clock.monotonic()
                expired = [i for i, (_, give_up) in self._unreleased.items() if give_up <= now]
                for lease_id in expired:
                    del self._unreleased[lease_id]
                if expired:
                    log.warning(
                        "rate-limit leases not released; they have expired by their TTL",
                        extra={"leases": len(expired)},
                    )
                await asyncio.sleep(delay)
                delay = min(_MAX_RETRY, delay * 2)
                continue
            for lease_id, _ in batch:
                self._unreleased.pop(lease_id, None)
            delay = _FIRST_RETRY
