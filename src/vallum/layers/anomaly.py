"""``anomaly``: feeds every completed call to the detectors and enforces their responses.

``on_complete`` only builds a small event and appends it to a bounded queue; a background
task sketches prompts, updates baselines, runs the detectors and acts. ``on_request``
refuses suspended keys and applies temporary throttles (a counter per throttled key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from typing import Any, ClassVar, Literal

from pydantic import Field

from vallum.anomaly.actions import NEVER_BLOCK, ActionSettings, Responder
from vallum.anomaly.alerts import Alerter, AlertSettings
from vallum.anomaly.detectors import Detectors
from vallum.anomaly.events import CallEvent, event_from
from vallum.anomaly.incidents import IncidentStore
from vallum.anomaly.signals import Thresholds
from vallum.anomaly.state import Enforcement
from vallum.errors import NotFound, StorageError
from vallum.identity.keys import parse_key
from vallum.layers.ipblock import Ipblock, open_enforcement
from vallum.pipeline.exchange import Exchange
from vallum.pipeline.layer import Deny, Layer, LayerConfig, LayerContext, Outcome, ResponseMode

__all__ = ["Anomaly", "AnomalyConfig"]

log = logging.getLogger("vallum.anomaly")

_SUSPENDED = Deny(
    401,
    "invalid_api_key",
    "Invalid authentication credentials.",
    "authentication_error",
    headers={"www-authenticate": 'Bearer realm="vallum"'},
)
_PRESENTED_MAX = 4096


def _locked_out(remaining: float) -> Deny:
    """Failed logins from this address: attempts without a known key wait (valid keys pass)."""
    return Deny(
        429,
        "too_many_failed_authentications",
        "Too many failed authentications from this address. Try again later.",
        "rate_limit_error",
        headers={"retry-after": str(max(1, min(120, int(remaining + 0.999))))},
    )


class AnomalyConfig(LayerConfig):
    type: Literal["anomaly"] = Field("anomaly", description="Selects this layer.")
    dry_run: bool = Field(False, description="Alert and record what would be done; act on nothing.")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Detector thresholds.")
    response: ActionSettings = Field(
        default_factory=ActionSettings, description="Actions per detector and severity, TTLs."
    )
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="Alert channels.")
    queue_size: int = Field(
        50_000,
        ge=100,
        le=10_000_000,
        description="Events waiting for the detectors (then dropped).",
    )
    max_subjects: int = Field(
        100_000, ge=100, le=10_000_000, description="Keys, ranges and IPs tracked (LRU)."
    )
    reconcile_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between re-reads of the shared enforcement state."
    )


class _IdentityRevoker:
    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway

    async def revoke(self, key_id: str, *, actor: str) -> None:
        service = self.gateway.identity
        if service is None:
            raise NotFound("The identity store is not running.", code="identity_disabled")
        await service.store.revoke_key(key_id, actor=actor)
        await service.cache.refresh("key", key_id)


class Anomaly(Layer[AnomalyConfig]):
    """Detect (off the request path), then act: alert, throttle, suspend, revoke, block."""

    name: ClassVar[str] = "anomaly"
    Config: ClassVar[type[LayerConfig]] = AnomalyConfig
    needs_body: ClassVar[bool] = False
    response_mode: ClassVar[ResponseMode] = ResponseMode.NONE

    def __init__(self, config: AnomalyConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        self.detectors = Detectors(config.thresholds, max_subjects=config.max_subjects)
        self.queue: deque[CallEvent] = deque()
        self.dropped = 0
        self.processed = 0
        self.enforcement: Enforcement | None = None
        self.responder: Responder | None = None
        self._owns_enforcement = False
        self._presented: OrderedDict[str, str] = OrderedDict()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        gateway = self.context.gateway
        if gateway is None:
            return
        shared = next((lay for lay in gateway.pipeline.layers if isinstance(lay, Ipblock)), None)
        if shared is not None and shared.enforcement is not None:
            self.enforcement = shared.enforcement
        else:
            self.enforcement = open_enforcement(
                gateway, self.context.clock, self.config.reconcile_interval
            )
            await self.enforcement.start()
            self._owns_enforcement = True
        settings = self.config.response
        if self.config.dry_run and not settings.dry_run:
            settings = settings.model_copy(update={"dry_run": True})
        alerter = Alerter(self.config.alerts, self.context.clock, getattr(gateway, "client", None))
        alerter.start()
        self.responder = Responder(
            settings,
            enforcement=self.enforcement,
            incidents=IncidentStore(gateway.storage),
            alerter=alerter,
            revoker=_IdentityRevoker(gateway),
            clock=self.context.clock,
            never_block=(*NEVER_BLOCK, *gateway.config.server.trusted_proxies),
        )
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.drain()
        if self.responder is not None:
            await self.responder.alerter.stop()
        if self.enforcement is not None and self._owns_enforcement:
            await self.enforcement.stop()
        self.enforcement = None

    # ---- the request path ---------------------------------------------------------------
    async def on_request(self, exchange: Exchange) -> Deny | None:
        enforcement = self.enforcement
        if enforcement is None:
            return None
        identity = exchange.identity
        key_id: str | None = getattr(identity, "credential_id", None)
        if key_id is None:
            key_id = self._presented_key(exchange)
        hot, now = enforcement.hot, self.context.clock.now()
        until = hot.locked_out(exchange.client_ip, now)
        if until is not None and identity is None and not self._known_key(key_id, now):
            return _locked_out(until - now)
        if key_id is None:
            return None
        if hot.is_suspended(key_id, now):
            return _SUSPENDED
        rpm = hot.throttle(key_id, now)
        if rpm is not None:
            return await self._throttle(key_id, rpm)
        return None

    def _known_key(self, key_id: str | None, now: float) -> bool:
        """A key this gateway knows and that is active: let it through a lockout."""
        identity = getattr(self.context.gateway, "identity", None)
        if key_id is None or identity is None:
            return False
        record = identity.cache.key(key_id)
        return record is not None and record.state(now) == "active"

    def _presented_key(self, exchange: Exchange) -> str | None:
        """Placed before authn, the layer sees the key's public id (never its secret)."""
        raw = exchange.headers.get("authorization", "")
        token = (
            raw[7:].strip()
            if raw[:7].lower() == "bearer "
            else exchange.headers.get("x-api-key", "")
        )
        parsed = parse_key(token) if token else None
        if parsed is None:
            return None
        self._presented[exchange.request_id] = parsed[0]
        if len(self._presented) > _PRESENTED_MAX:
            self._presented.popitem(last=False)
        return parsed[0]

    async def _throttle(self, key_id: str, rpm: int) -> Deny | None:
        counters = self.context.gateway.counters.counters
        result = await counters.hit(f"anomaly:throttle:{key_id}", limit=rpm, window=60.0)
        if result.allowed:
            return None
        wait = str(max(1, min(120, int(result.reset_after + 0.999))))
        return Deny(
            429,
            "rate_limit_exceeded",
            "This key is temporarily limited. Try again later.",
            "rate_limit_error",
            headers={"retry-after": wait},
        )

    async def on_complete(self, exchange: Exchange, outcome: Outcome) -> None:
        event = event_from(exchange, outcome, self.context.clock.now())
        if event.key_id is None:
            event.key_id = self._presented.pop(exchange.request_id, None)
        else:
            self._presented.pop(exchange.request_id, None)
        if len(self.queue) >= self.config.queue_size:
            self.dropped += 1
            return
        self.queue.append(event)
        self._wake.set()

    # ---- off the request path -----------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except (StorageError, Exception):  # detection must survive a failing backend
                log.exception("anomaly detectors failed")

    async def drain(self, most: int = 100_000) -> int:
        """Run the detectors over queued events and act on what they raise."""
        responder, handled = self.responder, 0
        while self.queue and handled < most:
            event = self.queue.popleft()
            handled += 1
            signals = self.detectors.observe(event)
            if event.budget is not None:
                budget = self.detectors.budget(event, event.budget)
                if budget is not None:
                    signals.append(budget)
            if responder is None:
                continue
            for signal in signals:
                await responder.handle(signal)
            if handled % 256 == 0:
                await asyncio.sleep(0)  # let requests run between batches
        self.processed += handled
        return handled
