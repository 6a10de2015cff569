"""Active health checks: a periodic cheap probe per provider feeds its deployments' breakers."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vallum.config.models import GatewayConfig
from vallum.errors import UpstreamError
from vallum.providers.base import UpstreamRequest
from vallum.proxy.routing import ModelRouter

__all__ = ["HealthChecker"]

log = logging.getLogger("vallum.routing")


class HealthChecker:
    """Probes each provider that has ``health_check`` configured, until stopped."""

    def __init__(self, config: GatewayConfig, router: ModelRouter) -> None:
        self._router = router
        self._probes = [
            (provider.name, provider.health_check)
            for provider in config.providers
            if provider.health_check is not None and provider.type != "mock"
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self.healthy: dict[str, bool] = {name: True for name, _ in self._probes}

    def start(self) -> None:
        for name, check in self._probes:
            assert check is not None  # noqa: S101 - filtered in __init__
            self._tasks.append(
                asyncio.create_task(self._loop(name, check.path, check.interval, check.timeout))
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def probe(self, name: str, path: str, seconds: float) -> bool:
        """One probe: any answer below 500 within the timeout counts as alive."""
        provider = self._router.providers[name]
        request = UpstreamRequest("GET", provider.base_url + path, provider.auth_headers(), b"")
        try:
            async with asyncio.timeout(seconds):
                response = await provider.send(request)
        except (UpstreamError, TimeoutError):
            return False
        return response.status < 500

    async def _loop(self, name: str, path: str, interval: float, seconds: float) -> None:
        while True:
            alive = await self.probe(name, path, seconds)
            if alive != self.healthy[name]:
                log.warning("upstream health changed", extra={"provider": name, "alive": alive})
            self.healthy[name] = alive
            for (provider, _), breaker in list(self._router.breakers.items()):
                if provider != name:
                    continue
                if alive:
                    breaker.allow_trial()
                else:
                    breaker.failure()
            await asyncio.sleep(interval)
