"""What ``/readyz`` asks: named probes that parts of the gateway register as they start.

A probe answers whether its part can serve now (a shared backend reachable, a change feed
subscribed); it may be a plain function or a coroutine, and one that raises or takes
longer than the timeout counts as not ready. Start-up never waits on them: a gateway whose
Redis is down starts, reports not-ready, and recovers by itself when Redis returns.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from vallum.errors import VallumError

__all__ = ["Probe", "Readiness"]

Probe = Callable[[], "bool | Awaitable[bool]"]


class Readiness:
    """Probes by name; ``waiting()`` lists those not ready."""

    def __init__(self, timeout: float = 1.0) -> None:
        self.timeout = timeout
        self._probes: dict[str, Probe] = {}

    def add(self, name: str, probe: Probe) -> None:
        self._probes[name] = probe

    def remove(self, name: str) -> None:
        self._probes.pop(name, None)

    @property
    def names(self) -> list[str]:
        return sorted(self._probes)

    async def waiting(self) -> list[str]:
        """Names of the probes that are not ready, all asked at once, in name order."""
        names = self.names
        answers = await asyncio.gather(*(self._ask(self._probes[n]) for n in names))
        return [name for name, ready in zip(names, answers, strict=True) if not ready]

    async def _ask(self, probe: Probe) -> bool:
        try:
            answer = probe()
            if inspect.isawaitable(answer):
                answer = await asyncio.wait_for(answer, self.timeout)
        except (VallumError, OSError, TimeoutError):
            return False
        return bool(answer)
