"""The three counter algorithms as pure functions; ``lua/reserve.lua`` mirrors them exactly.

* rate (GCRA): state is the theoretical arrival time ``tat``; a burst of ``limit`` fits,
  then one request per ``period / limit``. No window edges.
* window: a sliding window of two buckets, the previous one weighted by the part of it
  still inside the window (``used = curr + ceil(prev * (period - elapsed) / period)``).
* lease: the set of live lease expiry times; a call fits while fewer than ``limit`` live.

Times are float seconds; results are rounded to whole milliseconds, as Redis returns them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vallum.ratelimit.spec import CounterState

__all__ = ["EPSILON", "WindowState", "lease_check", "rate_check", "window_check", "window_roll"]

EPSILON = 1e-9
LEASE_RETRY = 1.0  # leases end when calls end: suggest a short retry


def _ms(seconds: float) -> float:
    return math.inf if seconds == math.inf else max(0, math.ceil(seconds * 1000 - 1e-6)) / 1000


def rate_check(
    tat: float | None, now: float, limit: int, period: float, cost: int
) -> tuple[CounterState, float]:
    """GCRA: the state after charging ``cost`` (or before, if refused) and the new ``tat``."""
    base = now if tat is None else max(tat, now)
    if limit <= 0:
        return CounterState(False, 0, 0.0, math.inf), base
    interval = period / limit
    new_tat = base + cost * interval
    if new_tat - now <= period + EPSILON:
        remaining = math.floor((period - (new_tat - now)) / interval + EPSILON)
        return CounterState(True, remaining, _ms(new_tat - now), 0.0), new_tat
    retry = math.inf if cost > limit else new_tat - now - period
    remaining = math.floor((period - (base - now)) / interval + EPSILON)
    return CounterState(False, max(0, remaining), _ms(base - now), _ms(retry)), base


@dataclass(slots=True)
class WindowState:
    bucket: int
    prev: int
    curr: int


def window_roll(stored: WindowState | None, now: float, period: float) -> WindowState:
    """The state as of ``now``: buckets that ended are shifted out."""
    bucket = math.floor(now / period)
    if stored is None or stored.bucket < bucket - 1:
        return WindowState(bucket, 0, 0)
    if stored.bucket == bucket - 1:
        return WindowState(bucket, stored.curr, 0)
    return WindowState(max(bucket, stored.bucket), stored.prev, stored.curr)


def _window_used(state: WindowState, elapsed: float, period: float) -> int:
    used = state.curr + math.ceil(state.prev * (period - elapsed) / period - EPSILON)
    return max(0, used)


def _window_retry(
    state: WindowState, elapsed: float, period: float, limit: int, cost: int
) -> float:
    """Seconds until ``cost`` fits, if nothing else is charged meanwhile."""
    if cost > limit:
        return math.inf
    room = limit - cost - state.curr
    if room >= 0 and state.prev > 0:  # the previous bucket decays enough within this one
        return max(0.0, period * (1 - room / state.prev) - elapsed)
    rest = period - elapsed  # wait for the next bucket, where curr becomes prev
    if state.curr <= 0:
        return rest
    return rest + max(0.0, period * (1 - (limit - cost) / state.curr))


def window_check(
    stored: WindowState | None, now: float, limit: int, period: float, cost: int
) -> tuple[CounterState, WindowState]:
    """Sliding window: the state after charging ``cost`` (or as it was, if refused)."""
    state = window_roll(stored, now, period)
    elapsed = now - state.bucket * period if state.bucket * period <= now else 0.0
    used = _window_used(state, elapsed, period)
    if used + cost <= limit:
        state.curr += cost
        reset = (period - elapsed) + (period if state.curr > 0 else 0.0)
        return CounterState(True, limit - used - cost, _ms(reset), 0.0), state
    reset = (period - elapsed) + (period if state.curr > 0 else 0.0)
    retry = _window_retry(state, elapsed, period, limit, cost)
    return CounterState(False, max(0, limit - used), _ms(reset), _ms(retry)), state


def lease_check(expiries: list[float], now: float, limit: int) -> tuple[CounterState, list[float]]:
    """Leases: expired ones are dropped; a new one fits while fewer than ``limit`` live."""
    live = [at for at in expiries if at > now]
    if len(live) + 1 <= limit:
        return CounterState(True, limit - len(live) - 1, 0.0, 0.0), live
    retry = math.inf if limit <= 0 else LEASE_RETRY
    return CounterState(False, max(0, limit - len(live)), 0.0, retry), live
