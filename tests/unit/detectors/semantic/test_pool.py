"""The inference pool: off the event loop, refuses past its queue limit, times out."""

from __future__ import annotations

import asyncio
import threading

import pytest

from vallum.detectors.semantic import InferencePool, SemanticModelError


async def test_runs_in_a_worker_thread() -> None:
    pool = InferencePool(workers=1, queue_limit=4, timeout=5.0)
    try:
        name = await pool.run(lambda: threading.current_thread().name)
    finally:
        pool.close()
    assert name.startswith("vallum-semantic")
    assert pool.in_flight == 0


async def test_refuses_past_the_queue_limit() -> None:
    release = threading.Event()
    pool = InferencePool(workers=1, queue_limit=2, timeout=5.0)
    try:
        first = asyncio.ensure_future(pool.run(release.wait))
        second = asyncio.ensure_future(pool.run(release.wait))
        await asyncio.sleep(0)
        with pytest.raises(SemanticModelError) as refused:
            await pool.run(lambda: True)
        assert refused.value.code == "detector_overloaded"
        release.set()
        assert await first and await second
        assert await pool.run(lambda: True)  # the slots are free again
    finally:
        release.set()
        pool.close()


async def test_a_slow_call_times_out_and_frees_its_slot_when_it_ends() -> None:
    release = threading.Event()
    pool = InferencePool(workers=1, queue_limit=1, timeout=0.05)
    try:
        with pytest.raises(SemanticModelError) as late:
            await pool.run(release.wait)
        assert late.value.code == "detector_timeout"
        assert pool.in_flight == 1  # still running in its thread: still counted
        release.set()
        for _ in range(100):
            if pool.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert pool.in_flight == 0
    finally:
        release.set()
        pool.close()


async def test_a_closed_pool_refuses() -> None:
    pool = InferencePool(workers=1, queue_limit=1, timeout=1.0)
    pool.close()
    with pytest.raises(SemanticModelError, match="closed"):
        await pool.run(lambda: True)
    assert pool.in_flight == 0
