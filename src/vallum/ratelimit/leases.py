"""Concurrency leases kept alive while their calls run, and released for sure when they end.

Leases are short (``lease_ttl``, 30 s by default) and renewed every third of it, in one
backend call for every call in flight on this instance, so the slots of an instance that
died free within ``lease_ttl``. A lease whose reserve or settle failed (a Redis stall or
outage) is released by its id in the background, retried until it lands or the lease
would have expired anyway; a reserve that timed out but ran in Redis later then takes
nothing (see ``LimitBackend.release``).
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
        self._releases: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_loop())

    async def stop(self) -> None:
        tasks = [*self._releases, *([self._renewer] if self._renewer else [])]
        self._renewer = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._releases.clear()

    @property
    def releasing(self) -> int:
        """Releases still being retried."""
        return len(self._releases)

    def release_later(self, lease_keys: Sequence[str], lease_id: str) -> None:
        """Release ``lease_id`` in the background, retrying until it lands."""
        if not lease_keys:
            return
        task = asyncio.create_task(self._release(tuple(lease_keys), lease_id))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

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

    async def _release(self, lease_keys: tuple[str, ...], lease_id: str) -> None:
        give_up = self.clock.monotonic() + self.lease_ttl  # the lease has expired by then
        delay = _FIRST_RETRY
        while True:
            try:
                await self.backend.release(lease_keys, lease_id, self.clock.now(), self.lease_ttl)
                return
            except StorageError:
                if self.clock.monotonic() >= give_up:
                    log.warning("rate-limit lease not released; it has expired by its TTL")
                    return
            await asyncio.sleep(delay)
            delay = min(_MAX_RETRY, delay * 2)
