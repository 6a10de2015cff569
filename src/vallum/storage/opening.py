"""Opening a backend at start-up: each attempt bounded, retried with backoff until a deadline.

A database that is down or unreachable when the gateway starts is retried (0.25 s, then
doubling up to 5 s between attempts) for ``storage.start_timeout`` seconds; each attempt
gives up after ``storage.connect_timeout``. Then start-up fails with a clear error instead
of hanging on the driver's own timeouts. A mistyped URL (``ConfigError``) fails at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from vallum.clock import Clock
from vallum.errors import StorageError
from vallum.storage import Storage, open_storage, redact_url

__all__ = ["open_with_retry"]

log = logging.getLogger("vallum.storage")

_FIRST_BACKOFF = 0.25
_MAX_BACKOFF = 5.0


async def open_with_retry(
    url: str,
    *,
    clock: Clock,
    namespace: str = "vallum",
    connect_timeout: float,
    start_timeout: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Storage:
    """``open_storage(url)``, retried; raises ``StorageError`` once ``start_timeout`` has passed."""
    deadline = clock.monotonic() + start_timeout
    backoff = _FIRST_BACKOFF
    attempt = 1
    while True:
        left = deadline - clock.monotonic()
        try:
            return await asyncio.wait_for(
                open_storage(url, clock=clock, namespace=namespace),
                timeout=max(0.05, min(connect_timeout, left)),
            )
        except (StorageError, TimeoutError) as exc:
            left = deadline - clock.monotonic()
            context = {"url": redact_url(url), "attempt": attempt, "error": type(exc).__name__}
            if left <= 0:
                raise StorageError(
                    "storage backend unreachable at start-up", context=context
                ) from exc
            log.warning("storage not reachable; retrying", extra=context)
        await sleep(min(backoff, left))
        backoff = min(backoff * 2, _MAX_BACKOFF)
        attempt += 1
