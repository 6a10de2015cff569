"""The total-timeout timer of buffered calls: the same outcome as ``asyncio.timeout``."""

from __future__ import annotations

import asyncio

from vallum.proxy.forward import _Deadline


async def _call(seconds: float, work: float) -> str:
    deadline = _Deadline(seconds, asyncio.current_task())
    try:
        try:
            await asyncio.sleep(work)
        finally:
            deadline.stop()
    except asyncio.CancelledError:
        if deadline.claim():
            return "timed out"
        raise
    return "done"


async def test_a_call_that_ends_in_time_is_not_touched() -> None:
    assert await _call(1.0, 0.0) == "done"
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_expiry_becomes_a_timeout_and_leaves_no_pending_cancel() -> None:
    task = asyncio.create_task(_call(0.02, 5.0))
    assert await task == "timed out"
    assert task.cancelling() == 0


async def test_an_outside_cancel_is_not_claimed() -> None:
    task = asyncio.create_task(_call(5.0, 5.0))
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        cancelled = True
    else:
        cancelled = False
    assert cancelled


async def test_expiry_together_with_an_outside_cancel_stays_a_cancel() -> None:
    async def both() -> str:
        outer = asyncio.current_task()
        assert outer is not None
        asyncio.get_running_loop().call_later(0.02, outer.cancel)
        return await _call(0.02, 5.0)

    task = asyncio.create_task(both())
    try:
        result = await task
    except asyncio.CancelledError:
        result = "cancelled"
    assert result == "cancelled"


async def test_no_task_means_no_timer() -> None:
    deadline = _Deadline(0.001, None)
    await asyncio.sleep(0.01)
    assert not deadline.expired
    assert not deadline.claim()
