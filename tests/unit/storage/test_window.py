"""The sliding-window arithmetic shared by every backend (the Lua scripts mirror it)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vallum.storage._window import WindowState, apply_hits, usage
from vallum.storage.base import CounterHit

WINDOW = 60.0
START = 1_700_000_040.0  # a bucket boundary of 60 s windows


def test_state_rolls_forward_one_bucket_then_resets() -> None:
    state = WindowState(bucket=10, prev=3, curr=7)
    assert WindowState.at(state, 10 * WINDOW + 1, WINDOW) == WindowState(10, 3, 7)
    assert WindowState.at(state, 11 * WINDOW + 1, WINDOW) == WindowState(11, 7, 0)
    assert WindowState.at(state, 12 * WINDOW + 1, WINDOW) == WindowState(12, 0, 0)
    assert WindowState.at(None, 5.0, WINDOW) == WindowState(0, 0, 0)


@given(
    prev=st.integers(0, 50),
    curr=st.integers(0, 50),
    offset=st.floats(0, WINDOW - 0.01),
    limit=st.integers(1, 60),
    cost=st.integers(1, 10),
)
def test_refused_hit_fits_after_reset_after(
    prev: int, curr: int, offset: float, limit: int, cost: int
) -> None:
    now = START + offset
    bucket = int(START // WINDOW)
    hit = CounterHit("k", limit, WINDOW, cost)
    allowed, _, [result] = apply_hits({"k": WindowState(bucket, prev, curr)}, [hit], now)
    assert allowed == (usage(prev, curr, now, WINDOW) + cost <= limit)
    if allowed or cost > limit:
        return
    later = now + result.reset_after + 1e-6
    fits, _, _ = apply_hits({"k": WindowState(bucket, prev, curr)}, [hit], later)
    assert fits
