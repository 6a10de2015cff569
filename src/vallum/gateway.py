"""The Gateway: everything one instance owns, built from config (no module-level state)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from vallum.clock import Clock, SystemClock
from vallum.config.loader import validate_layers
from vallum.config.models import GatewayConfig
from vallum.errors import ConfigError
from vallum.identity.service import IdentityService, open_identity
from vallum.identity.service import wanted as identity_wanted
from vallum.layers import layer_class
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.layer import Layer, LayerContext
from vallum.proxy.health import HealthChecker
from vallum.proxy.http_client import HttpClient
from vallum.proxy.routing import ModelRouter
from vallum.readiness import Readiness
from vallum.storage import Storage, open_storage

__all__ = ["Gateway"]


class Gateway:
    """One instance: config, layers, providers, the shared upstream client."""

    def __init__(self, config: GatewayConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.instance_id = config.server.instance_id or socket.gethostname()
        self.client = HttpClient(
            connect_timeout=config.timeouts.connect,
            read_timeout=config.timeouts.read,
            max_response_bytes=config.limits.max_response_bytes,
        )
        self.router = ModelRouter(config, self.client, self.clock)
        self.health = HealthChecker(config, self.router)
        context = LayerContext(clock=self.clock, gateway=self)
        layers: list[Layer[Any]] = []
        for layer_config in validate_layers(config.layers, source="layers"):
            cls = layer_class(layer_config.type)  # type: ignore[attr-defined]
            if cls is None:  # validate_layers has refused unknown names already
                raise ConfigError(f"unknown layer {layer_config.type!r}")  # type: ignore[attr-defined]
            layers.append(cls(layer_config, context))
        self.pipeline = Pipeline(layers, self.clock)
        self._storage: Storage | None = None
        self._counters: Storage | None = None
        self.identity: IdentityService | None = None  # keys, teams, roles (authn/authz/admin)
        self.readiness = Readiness()  # what /readyz asks; parts add probes as they start
        self.started = False

    @property
    def storage(self) -> Storage:
        """Durable state (keys, policies, audit): SQLite or PostgreSQL. Open after start()."""
        if self._storage is None:
            raise RuntimeError("the gateway is not started")
        return self._storage

    @property
    def counters(self) -> Storage:
        """Counters and hot state: in-process or Redis (``storage`` itself if the URLs match)."""
        if self._counters is None:
            raise RuntimeError("the gateway is not started")
        return self._counters

    async def start(self) -> None:
        urls = self.config.storage
        _ensure_sqlite_dir(urls.url)
        self._storage = await open_storage(urls.url, clock=self.clock, namespace=urls.namespace)
        if urls.counters_url == urls.url:
            self._counters = self._storage
        else:
            _ensure_sqlite_dir(urls.counters_url)
            self._counters = await open_storage(
                urls.counters_url, clock=self.clock, namespace=urls.namespace
            )
            if self._counters.backend == "redis":
                self.readiness.add("counters", _reachable(self._counters))
        if identity_wanted(self):
            self.identity = open_identity(self._storage, self._counters, self.clock)
            await self.identity.start()
            cache = self.identity.cache
            self.readiness.add("identity.feed", lambda: cache.listening)
        await self.pipeline.start()
        self.health.start()
        self.started = True

    async def stop(self) -> None:
        self.started = False
        await self.health.stop()
        await self.pipeline.stop()
        if self.identity is not None:
            await self.identity.stop()
            self.identity = None
        await self.client.close()
        if self._counters is not None and self._counters is not self._storage:
            await self._counters.close()
        if self._storage is not None:
            await self._storage.close()
        self._storage = self._counters = None


def _reachable(storage: Storage) -> Callable[[], Awaitable[bool]]:
    """A probe: one read from ``storage`` (a StorageError, or the probe's timeout: not ready)."""

    async def probe() -> bool:
        await storage.kv.get("readyz")
        return True

    return probe


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///") :].split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)
