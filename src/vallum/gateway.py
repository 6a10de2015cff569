"""The Gateway: everything one instance owns, built from config (no module-level state)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from vallum.clock import Clock, SystemClock
from vallum.config.loader import validate_layers
from vallum.config.models import GatewayConfig
from vallum.errors import ConfigError, StorageError
from vallum.identity.service import IdentityService, open_identity
from vallum.identity.service import wanted as identity_wanted
from vallum.layers import layer_class
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.layer import Layer, LayerContext
from vallum.proxy.health import HealthChecker
from vallum.proxy.http_client import HttpClient
from vallum.proxy.routing import ModelRouter
from vallum.readiness import Readiness
from vallum.services import Services
from vallum.storage import Storage, redact_url
from vallum.storage.instances import InstanceRegistry
from vallum.storage.opening import open_with_retry

__all__ = ["Gateway"]

log = logging.getLogger("vallum.gateway")


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
        layers: list[Layer[Any]] = []
        for layer_config in validate_layers(config.layers, source="layers"):
            cls = layer_class(layer_config.type)  # type: ignore[attr-defined]
            if cls is None:  # validate_layers has refused unknown names already
                raise ConfigError(f"unknown layer {layer_config.type!r}")  # type: ignore[attr-defined]
            services = Services(self, cls.needs, cls.name)
            context = LayerContext(clock=self.clock, gateway=self, services=services)
            layers.append(cls(layer_config, context))
        self.pipeline = Pipeline(layers, self.clock)
        self._storage: Storage | None = None
        self._counters: Storage | None = None
        self.identity: IdentityService | None = None  # keys, teams, roles (authn/authz/admin)
        self.readiness = Readiness()  # what /readyz asks; parts add probes as they start
        self.instances: InstanceRegistry | None = None  # every live instance (shared backend)
        self.started = False

    async def _open(self, url: str) -> Storage:
        settings = self.config.storage
        _ensure_sqlite_dir(url)
        return await open_with_retry(
            url,
            clock=self.clock,
            namespace=settings.namespace,
            connect_timeout=settings.connect_timeout,
            start_timeout=settings.start_timeout,
        )

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
        self._storage = await self._open(urls.url)
        if self._storage.backend != "memory":  # the durable store, once opened
            self.readiness.add("storage", _reachable(self._storage))
        if urls.counters_url == urls.url:
            self._counters = self._storage
        else:
            self._counters = await self._open(urls.counters_url)
            if self._counters.backend == "redis":
                self.readiness.add("counters", _reachable(self._counters))
        try:
            await self._register()
        except ConfigError:
            await self._close_storage()  # an open SQLite connection would keep the process up
            raise
        if identity_wanted(self):
            self.identity = open_identity(self._storage, self._counters, self.clock)
            await self.identity.start()
            cache = self.identity.cache
            self.readiness.add("identity.feed", lambda: cache.listening)
        await self.pipeline.start()
        self.health.start()
        self.started = True

    async def _register(self) -> None:
        """Join the instance registry (on Redis when counters are shared, else the durable
        store); with counters kept in this process, refuse to start beside another live
        instance of the same store: each would count limits alone."""
        storage, counters = self.storage, self.counters
        shared = counters if counters.backend == "redis" else storage
        self.instances = registry = InstanceRegistry(shared, self.clock, self.instance_id)
        try:
            await registry.start()
            others = [] if counters.backend == "redis" else await registry.others()
        except StorageError:
            log.warning("instance registry not reachable; joining it when it is")
            return
        if others:
            await registry.stop()
            urls, other = self.config.storage, others[0]
            raise ConfigError(
                f"storage.counters_url: {urls.counters_url.split('://', 1)[0]}:// counts rate "
                f"limits in this process, but instance {other.name!r} (pid {other.pid} on "
                f"{other.host}) is running on the same store (storage.url), so each would "
                "count alone; use redis:// counters shared by both, or run one instance",
                context={"url": redact_url(urls.url), "other": other.id},
            )

    async def stop(self) -> None:
        self.started = False
        await self.health.stop()
        await self.pipeline.stop()
        if self.identity is not None:
            await self.identity.stop()
            self.identity = None
        if self.instances is not None:
            await self.instances.stop()
            self.instances = None
        await self.client.close()
        await self._close_storage()

    async def _close_storage(self) -> None:
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
