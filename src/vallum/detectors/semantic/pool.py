"""A bounded worker pool for CPU-bound inference, off the event loop.

Backpressure: at most ``queue_limit`` calls are waiting or running; one more is refused at
once rather than queued behind the others. A call that outlives ``timeout`` is abandoned by
its caller: it is cancelled if it has not started, and its slot is freed when it ends.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from vallum.detectors.semantic.runner import SemanticModelError

__all__ = ["InferencePool"]

T = TypeVar("T")


class InferencePool:
    """Runs blocking calls in a few threads; refuses work past its queue limit."""

    def __init__(self, workers: int, queue_limit: int, timeout: float) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="vallum-semantic"
        )
        self._limit = queue_limit
        self._timeout = timeout
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Calls waiting or running now (abandoned calls count until they end)."""
        return self._in_flight

    async def run(self, call: Callable[[], T]) -> T:
        """The result of ``call()`` from a worker thread, within the timeout."""
        with self._lock:
            if self._in_flight >= self._limit:
                raise SemanticModelError(
                    "the semantic tier is overloaded",
                    code="detector_overloaded",
                    context={"in_flight": self._in_flight, "limit": self._limit},
                )
            self._in_flight += 1
        try:
            future = self._executor.submit(call)
        except RuntimeError as exc:  # the pool was shut down
            self._release(None)
            raise SemanticModelError("the semantic tier is closed") from exc
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError as exc:
            future.cancel()
            raise SemanticModelError(
                "the semantic tier timed out",
                code="detector_timeout",
                context={"timeout_s": self._timeout},
            ) from exc

    def _release(self, _future: Future[Any] | None) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        """Stop taking calls; running ones finish in their threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
