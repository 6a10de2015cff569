"""In-process limits: the same semantics as the Redis script, for a single instance.

Each reserve and settle runs without an ``await`` inside, so on the event loop it is atomic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vallum.ratelimit.algorithms import WindowState, lease_check, rate_check, window_check
from vallum.ratelimit.backend import Adjustment
from vallum.ratelimit.spec import Charge, CounterState, Measure, Verdict

__all__ = ["MemoryLimits"]

_SWEEP_EVERY = 4096


class MemoryLimits:
    """Counters in dicts owned by one layer instance."""

    name = "memory"

    def __init__(self) -> None:
        self._rates: dict[str, float] = {}
        self._windows: dict[str, tuple[WindowState, float]] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._released: dict[str, float] = {}  # lease id -> until when its reserve is refused
        self._ops = 0

    async def reserve(
        self, charges: Sequence[Charge], lease_id: str, now: float, lease_ttl: float
    ) -> Verdict:
        if self._released and lease_id in self._released:
            return Verdict(False, ())  # released before its reserve ran: take nothing
        states: list[CounterState] = []
        news: list[object] = []
        admitted = True
        pending: dict[str, WindowState] | None = None  # windows charged twice in one call
        for charge in charges:
            limit = charge.limit
            measure = limit.measure
            new: object
            if measure is Measure.REQUESTS:
                state, new = rate_check(
                    self._rates.get(limit.key), now, limit.limit, limit.period, charge.cost
                )
            elif measure is Measure.CONCURRENT:
                leases = self._leases.get(limit.key)
                state, new = lease_check(list(leases.values()) if leases else [], now, limit.limit)
            else:
                if pending is None:
                    pending = {}
                state, new = self._window(charge, now, pending)
            states.append(state)
            news.append(new)
            admitted = admitted and state.allowed
        if admitted:
            for charge, new in zip(charges, news, strict=True):
                self._write(charge, new, lease_id, now, lease_ttl)
        self._ops += 1
        if self._ops % _SWEEP_EVERY == 0:
            self._sweep(now)
        return Verdict(admitted, tuple(states))

    def _window(
        self, charge: Charge, now: float, pending: dict[str, WindowState]
    ) -> tuple[CounterState, WindowState]:
        limit = charge.limit
        stored = pending.get(limit.key)
        if stored is None:
            entry = self._windows.get(limit.key)
            stored = None if entry is None else WindowState(*_fields(entry[0]))
        state, new = window_check(stored, now, limit.limit, limit.period, charge.cost)
        pending[limit.key] = new
        return state, new

    def _write(
        self, charge: Charge, new: object, lease_id: str, now: float, lease_ttl: float
    ) -> None:
        key = charge.limit.key
        measure = charge.limit.measure
        if measure is Measure.REQUESTS and isinstance(new, float):
            self._rates[key] = new
        elif measure is Measure.CONCURRENT:
            leases = self._leases.get(key)
            if leases is None:
                leases = self._leases[key] = {}
            elif isinstance(new, list) and len(leases) > len(new):  # some expired: drop them
                for expired in [k for k, at in leases.items() if at <= now]:
                    del leases[expired]
            leases[lease_id] = now + lease_ttl
        elif isinstance(new, WindowState):
            self._windows[key] = (new, charge.limit.period)

    async def settle(
        self, adjustments: Sequence[Adjustment], lease_keys: Sequence[str], lease_id: str
    ) -> None:
        for adjustment in adjustments:
            entry = self._windows.get(adjustment.key)
            if entry is None:
                continue
            state = entry[0]
            if state.bucket == adjustment.bucket:
                state.curr = max(0, state.curr + adjustment.delta)
            elif state.bucket == adjustment.bucket + 1:
                state.prev = max(0, state.prev + adjustment.delta)
        for key in lease_keys:
            leases = self._leases.get(key)
            if leases is not None:
                leases.pop(lease_id, None)
                if not leases:
                    del self._leases[key]

    async def renew(self, leases: Sequence[tuple[str, str]], now: float, lease_ttl: float) -> int:
        renewed = 0
        for key, lease_id in leases:
            held = self._leases.get(key)
            at = None if held is None else held.get(lease_id)
            if held is not None and at is not None and at > now:
                held[lease_id] = now + lease_ttl
                renewed += 1
        return renewed

    async def release(
        self, leases: Sequence[tuple[Sequence[str], str]], now: float, lease_ttl: float
    ) -> None:
        for lease_keys, lease_id in leases:
            await self.settle((), lease_keys, lease_id)
            self._released[lease_id] = now + lease_ttl

    def _sweep(self, now: float) -> None:
        """Forget counters that are back to empty, so memory follows live traffic only."""
        self._rates = {k: tat for k, tat in self._rates.items() if tat > now}
        self._windows = {
            k: (s, p) for k, (s, p) in self._windows.items() if s.bucket >= math.floor(now / p) - 1
        }
        self._leases = {
            k: live
            for k, leases in self._leases.items()
            if (live := {i: at for i, at in leases.items() if at > now})
        }
        self._released = {i: until for i, until in self._released.items() if until > now}

    async def close(self) -> None:
        self._rates.clear()
        self._windows.clear()
        self._leases.clear()


def _fields(state: WindowState) -> tuple[int, int, int]:
    return state.bucket, state.prev, state.curr
