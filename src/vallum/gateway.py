"""The Gateway: everything one instance owns, built from config (no module-level state)."""

from __future__ import annotations

import socket
from typing import Any

from vallum.clock import Clock, SystemClock
from vallum.config.loader import validate_layers
from vallum.config.models import GatewayConfig
from vallum.layers import layer_types
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.layer import Layer, LayerContext
from vallum.proxy.http_client import HttpClient
from vallum.proxy.upstreams import ModelRouter

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
        self.router = ModelRouter(config, self.client)
        context = LayerContext(clock=self.clock, gateway=self)
        known = layer_types()
        layers: list[Layer[Any]] = []
        for layer_config in validate_layers(config.layers, source="layers"):
            cls = known[layer_config.type]  # type: ignore[attr-defined]
            layers.append(cls(layer_config, context))
        self.pipeline = Pipeline(layers, self.clock)
        self.started = False

    async def start(self) -> None:
        await self.pipeline.start()
        self.started = True

    async def stop(self) -> None:
        self.started = False
        await self.pipeline.stop()
        await self.client.close()
