"""Two-bucket weighted sliding window: the arithmetic every backend shares.

A key keeps the count of the current fixed bucket (``curr``) and of the one before
(``prev``). Usage at time ``now`` is ``curr + ceil(prev * (window - elapsed) / window)``,
where ``elapsed`` is how far ``now`` is into the current bucket: the previous bucket's
weight fades linearly, so there is no burst at bucket edges. The Redis Lua scripts
compute exactly the same expressions (IEEE doubles on both sides).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vallum.storage.base import CounterHit, HitResult

__all__ = ["WindowState", "apply_hits", "elapsed_in_bucket", "results", "usage"]


@dataclass(slots=True)
class WindowState:
    """Stored state of one counter key; ``bucket`` is ``floor(now / window)``."""

    bucket: int
    prev: int
    curr: int

    @classmethod
    def at(cls, stored: WindowState | None, now: float, window: float) -> WindowState:
        """The state rolled forward to the bucket containing ``now`` (a new object)."""
        bucket = math.floor(now / window)
        if stored is None or stored.bucket < bucket - 1:
            return cls(bucket, 0, 0)
        if stored.bucket == bucket - 1:
            return cls(bucket, stored.curr, 0)
        # same bucket, or a clock that went backwards: keep what we have
        return cls(max(bucket, stored.bucket), stored.prev, stored.curr)


def elapsed_in_bucket(now: float, window: float) -> float:
    return now - math.floor(now / window) * window


def usage(prev: int, curr: int, now: float, window: float) -> int:
    elapsed = elapsed_in_bucket(now, window)
    return max(0, curr + math.ceil(prev * (window - elapsed) / window))


def _drain_time(prev: int, curr: int, elapsed: float, window: float) -> float:
    if curr > 0:
        return (window - elapsed) + window
    if prev > 0:
        return window - elapsed
    return 0.0


def _wait_for(prev: int, curr: int, elapsed: float, window: float, threshold: int) -> float:
    """Seconds until usage <= ``threshold`` (``limit - cost``), if nothing else is recorded."""
    if threshold < 0:
        return 2 * window  # the cost exceeds the limit: it never fits
    if curr <= threshold:
        available = threshold - curr
        if prev <= available:
            return 0.0
        # ceil(prev * (window - t) / window) <= available  <=>  t >= window * (1 - available/prev)
        return max(0.0, window * (1 - available / prev) - elapsed)
    # wait for the next bucket, where curr becomes prev
    return (window - elapsed) + window * (1 - threshold / curr)


def results(
    hits: Sequence[CounterHit],
    snapshots: Sequence[tuple[int, int]],
    now: float,
    allowed: bool,
) -> list[HitResult]:
    """Build results from each hit's (prev, curr): after the hit if allowed, before it if not."""
    out: list[HitResult] = []
    for hit, (prev, curr) in zip(hits, snapshots, strict=True):
        used = usage(prev, curr, now, hit.window)
        elapsed = elapsed_in_bucket(now, hit.window)
        if allowed:
            reset = _drain_time(prev, curr, elapsed, hit.window)
        else:
            reset = _wait_for(prev, curr, elapsed, hit.window, hit.limit - hit.cost)
        out.append(HitResult(allowed, used, max(0, hit.limit - used), reset))
    return out


def apply_hits(
    stored: dict[str, WindowState | None], hits: Sequence[CounterHit], now: float
) -> tuple[bool, dict[str, WindowState], list[HitResult]]:
    """Evaluate ``hits`` in order against ``stored``; all or nothing.

    Returns whether all fit, the new states to write (only meaningful when they did),
    and the results.
    """
    states = {
        key: WindowState.at(state, now, _window_of(hits, key)) for key, state in stored.items()
    }
    before = [(states[h.key].prev, states[h.key].curr) for h in hits]
    after: list[tuple[int, int]] = []
    allowed = True
    for hit in hits:
        state = states[hit.key]
        if usage(state.prev, state.curr, now, hit.window) + hit.cost > hit.limit:
            allowed = False
            break
        state.curr += hit.cost
        after.append((state.prev, state.curr))
    return allowed, states, results(hits, after if allowed else before, now, allowed)


def _window_of(hits: Sequence[CounterHit], key: str) -> float:
    return next(h.window for h in hits if h.key == key)
