"""``ipblock``: refuses clients whose address is in a blocked IP or CIDR range (403 ``ip_blocked``).

It must be the first layer. It reads the hot copy of the enforcement state that the
anomaly layer's actions and operators (``vallum incidents block``, the admin API) keep.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from vallum.anomaly.state import Enforcement, fanout, parse_cidr
from vallum.clock import Clock
from vallum.errors import ConfigError
from vallum.pipeline.exchange import Exchange
from vallum.pipeline.layer import Deny, Layer, LayerConfig, LayerContext, ResponseMode

__all__ = ["IP_BLOCKED", "Ipblock", "IpblockConfig", "open_enforcement"]

IP_BLOCKED = Deny(403, "ip_blocked", "Requests from this address are blocked.", "permission_error")


class IpblockConfig(LayerConfig):
    type: Literal["ipblock"] = Field("ipblock", description="Selects this layer.")
    static: tuple[str, ...] = Field(
        (), max_length=10_000, description="CIDR ranges always refused (besides dynamic blocks)."
    )
    reconcile_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between re-reads of the shared enforcement state."
    )

    @field_validator("static")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(parse_cidr(v)) for v in value)


def open_enforcement(gateway: Any, clock: Clock, interval: float) -> Enforcement:
    """Durable copy in ``gateway.storage``; fan-out on the shared (Redis) backend if any."""
    storage, counters = gateway.storage, gateway.counters
    listen = counters.pubsub if counters.backend == "redis" else storage.pubsub
    enforcement = Enforcement(
        storage,
        clock,
        notify=fanout(storage, counters),
        listen=listen,
        reconcile_interval=interval,
    )
    readiness = getattr(gateway, "readiness", None)
    if readiness is not None:
        readiness.add("enforcement.feed", lambda: enforcement.listening)
    return enforcement


class Ipblock(Layer[IpblockConfig]):
    """403 for blocked addresses; a lookup per configured prefix length, no I/O."""

    name: ClassVar[str] = "ipblock"
    Config: ClassVar[type[LayerConfig]] = IpblockConfig
    needs_body: ClassVar[bool] = False
    response_mode: ClassVar[ResponseMode] = ResponseMode.NONE

    def __init__(self, config: IpblockConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        self.enforcement: Enforcement | None = None
        self._static = Enforcement.static(config.static)

    async def start(self) -> None:
        gateway = self.context.gateway
        if gateway is None:
            return
        if gateway.pipeline.layers[0] is not self:
            raise ConfigError("layers: 'ipblock' must be the first layer")
        self.enforcement = open_enforcement(
            gateway, self.context.clock, self.config.reconcile_interval
        )
        await self.enforcement.start()

    async def stop(self) -> None:
        if self.enforcement is not None:
            await self.enforcement.stop()
            self.enforcement = None

    async def on_request(self, exchange: Exchange) -> Deny | None:
        now = self.context.clock.now()
        if self._static.blocked(exchange.client_ip, now) is not None:
            return IP_BLOCKED
        enforcement = self.enforcement
        if enforcement is not None and enforcement.hot.blocked(exchange.client_ip, now):
            return IP_BLOCKED
        return None
