"""``ratelimit``: requests, tokens, concurrent calls and spend, exact across instances.

Before the call, one atomic check-and-reserve charges every applicable limit (all or
nothing); after it, one settle corrects token and spend windows to real usage and
releases the concurrency lease. Leases are short and renewed while the call runs
(``ratelimit.leases``).
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from vallum.errors import StorageError
from vallum.pipeline.exchange import Exchange
from vallum.pipeline.layer import (
    Deny,
    Layer,
    LayerConfig,
    LayerContext,
    Outcome,
    ResponseMode,
    StreamEdit,
    StreamEnding,
    StreamWindow,
)
from vallum.ratelimit.backend import Adjustment, LimitBackend, open_backend
from vallum.ratelimit.costs import (
    Estimate,
    Price,
    PriceTable,
    actual_usage,
    output_budget,
    shipped_prices,
)
from vallum.ratelimit.headers import rate_headers, refusal
from vallum.ratelimit.leases import LeaseKeeper
from vallum.ratelimit.meter import StreamMeter, output_room
from vallum.ratelimit.resolve import SETTLED_FROM, Plan, Resolver, Rule
from vallum.ratelimit.spec import Charge, CounterState, Quota
from vallum.ratelimit.stream_usage import ask_stream_usage, may_lack_usage
from vallum.ratelimit.tokens import TokenCounter, estimate_tokens

__all__ = ["Ratelimit", "RatelimitConfig"]

log = logging.getLogger("vallum.ratelimit")

_NOTHING = Estimate(0, 0)
_UNAVAILABLE = Deny(
    503,
    "rate_limiter_unavailable",
    "Rate limits could not be checked, so the request was not sent. Try again shortly.",
    "api_error",
    headers={"retry-after": "1"},
)
# why a stream was cut (its ending is the format's length ending, not this error)
_OUTPUT_LIMIT = Deny(
    429,
    "rate_limit_exceeded",
    "The reply reached the output tokens its rate limits allow.",
    "tokens",
)
_UNPRICED = Deny(
    403,
    "model_not_priced",
    "A spending budget applies, but this model has no price on this gateway.",
    "permission_error",
)


class RatelimitConfig(LayerConfig):
    type: Literal["ratelimit"] = "ratelimit"
    url: str | None = Field(
        None,
        max_length=2048,
        description="Counter backend (memory:// or redis://); default: storage.counters_url.",
    )
    key_prefix: str = Field(
        "vallum",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,39}$",
        description="Prefix of the counter keys (Redis hash tag {<prefix>:rl}).",
    )
    limits: list[Rule] = Field(
        default_factory=list, max_length=256, description="Limits from config, per dimension."
    )
    teams: dict[str, Quota] = Field(
        default_factory=dict, max_length=4096, description="Limits per team (one shared pool)."
    )
    roles: dict[str, Quota] = Field(
        default_factory=dict,
        max_length=1024,
        description="Limits for each principal holding a role (tiers).",
    )
    prices: list[Price] = Field(
        default_factory=list, max_length=1024, description="USD per 1M tokens, by model."
    )
    shipped_prices: bool = Field(
        True,
        description="After `prices`, use the dated list prices shipped with Vallum.",
    )
    unpriced_models: Literal["deny", "free"] = Field(
        "deny", description="A call under a spend limit to a model without a price."
    )
    tokenizer: Literal["exact", "estimate"] = Field(
        "exact", description="exact: OpenAI BPE for OpenAI models; estimate: bytes / 4 for all."
    )
    default_max_tokens: int = Field(
        1024,
        ge=1,
        le=10_000_000,
        description="Completion tokens reserved when max_tokens is unset.",
    )
    lease_ttl: float = Field(
        30.0,
        ge=1,
        le=86_400,
        description=(
            "Seconds a concurrency lease lives unless renewed; renewed every third of it "
            "while the call runs, so a crashed instance's slots free within this."
        ),
    )
    backend_timeout: float = Field(
        1.0, gt=0, le=30, description="Seconds to wait for the counter backend."
    )
    stream_usage: bool = Field(
        False,
        description="Ask OpenAI streams for a usage chunk (stream_options.include_usage).",
    )
    stream_cut: bool = Field(
        False,
        description=(
            "End a stream when its output uses up the room its output/total token limits "
            "had at reserve time, with the format's length ending (finish_reason 'length')."
        ),
    )


@dataclass(slots=True)
class _Reservation:
    lease_id: str
    at: float
    plan: Plan
    charges: tuple[Charge, ...]
    estimate: Estimate
    price: Price | None
    meter: StreamMeter | None = None  # streams under stream_cut: output counted as it flows


class Ratelimit(Layer[RatelimitConfig]):
    """Admits a call only if every limit that applies has room; settles real usage after."""

    name: ClassVar[str] = "ratelimit"
    Config: ClassVar[type[LayerConfig]] = RatelimitConfig

    def __init__(self, config: RatelimitConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        self.resolver = Resolver(config.limits, config.teams, config.roles)
        shipped = shipped_prices()[1] if config.shipped_prices else []
        self.prices = PriceTable([*config.prices, *shipped])
        self.tokens = TokenCounter(exact=config.tokenizer == "exact")
        self.backend: LimitBackend | None = None
        self.leases: LeaseKeeper | None = None
        self.open_admits = 0  # calls admitted unchecked because the backend failed (open mode)
        self._pending: dict[int, _Reservation] = {}
        # lease ids: unique per instance (random prefix) and per call (sequence), no syscall
        self._lease_prefix = secrets.token_hex(8) + ":"
        self._lease_seq = itertools.count()

    @property
    def mode(self) -> ResponseMode:
        """Streaming only under ``stream_cut``: otherwise streams never pass through here."""
        return ResponseMode.STREAMING if self.config.stream_cut else ResponseMode.NONE

    async def start(self) -> None:
        gateway = self.context.gateway
        url = self.config.url
        workers = 1
        if gateway is not None:
            url = url or gateway.config.storage.counters_url
            workers = gateway.config.server.workers
        self.backend = open_backend(
            url or "memory://",
            prefix=self.config.key_prefix,
            workers=workers,
            timeout=self.config.backend_timeout,
            on_lost=self._lost,
        )
        self.leases = LeaseKeeper(
            self.backend, self.context.clock, self.config.lease_ttl, self._live_leases
        )
        self.leases.start()

    def _live_leases(self) -> list[tuple[str, str]]:
        """(lease key, lease id) of every call in flight here that holds a lease."""
        return [(key, r.lease_id) for r in self._pending.values() for key in r.plan.leases]

    def _lost(self, lease_keys: Sequence[str], lease_id: str) -> None:
        if self.leases is not None:
            self.leases.release_later(lease_keys, lease_id)

    async def stop(self) -> None:
        if self.leases is not None:
            await self.leases.stop()
            self.leases = None
        if self.backend is not None:
            try:
                await self.backend.close()
            except StorageError:
                log.warning("rate-limit backend did not close cleanly")
            self.backend = None

    def _directory(self) -> Any:
        gateway = self.context.gateway
        identity = getattr(gateway, "identity", None)
        return None if identity is None else identity.cache

    async def on_request(self, exchange: Exchange) -> Deny | None:
        plan = self.resolver.plan(exchange, self._directory())
        if plan is None:
            return None
        charges = plan.fixed
        estimate, price = _NOTHING, None
        if charges is None:
            request = exchange.request
            if request is not None and not self.tokens.ready(request.model):
                await self.tokens.ensure(request.model)  # the first call only: loads the BPE
            estimate = self._estimate(exchange)
            if plan.needs_spend:
                price = self._price(exchange)
                if price is None and self.config.unpriced_models == "deny":
                    return _UNPRICED
            costs = _costs(estimate, price)
            charges = tuple([Charge(limit, costs[slot]) for limit, slot in plan.slots])
        return await self._reserve(exchange, plan, charges, estimate, price)

    async def _reserve(
        self,
        exchange: Exchange,
        plan: Plan,
        charges: tuple[Charge, ...],
        estimate: Estimate,
        price: Price | None,
    ) -> Deny | None:
        backend = self.backend
        if backend is None:
            raise StorageError("the ratelimit layer is not started")
        now = self.context.clock.now()
        lease_id = self._lease_prefix + str(next(self._lease_seq))
        try:
            verdict = await backend.reserve(charges, lease_id, now, self.config.lease_ttl)
        except StorageError:
            # it may still run in the backend (a timeout, not a refusal): free its lease
            self._lost(plan.leases, lease_id)
            return self._unavailable(exchange)
        if not verdict.admitted:
            if len(verdict.states) != len(charges):  # a reserve refused whole (released id)
                return self._unavailable(exchange)
            return refusal(charges, verdict.states, exchange.wire, now)
        meter = (
            self._meter(exchange, charges, verdict.states, estimate) if plan.needs_tokens else None
        )
        self._pending[id(exchange)] = _Reservation(
            lease_id, now, plan, charges, estimate, price, meter
        )
        exchange.response_headers.extend(rate_headers(charges, verdict.states, exchange.wire, now))
        if self.config.stream_usage:
            ask_stream_usage(exchange)
        if plan.needs_tokens and (meter is not None or may_lack_usage(exchange)):
            exchange.count_stream_text = True
        return None

    def _meter(
        self,
        exchange: Exchange,
        charges: tuple[Charge, ...],
        states: tuple[CounterState, ...],
        estimate: Estimate,
    ) -> StreamMeter | None:
        """Under ``stream_cut``, for a stream under an output or total token limit: the
        output it may use — what it reserved plus the tightest such limit's remaining room
        after the reserve (nothing granted later counts)."""
        request = exchange.request
        if not self.config.stream_cut or request is None or not request.stream:
            return None
        room = output_room(charges, states, estimate.output_tokens)
        return None if room is None else StreamMeter(room, self.tokens.encoding(request.model))

    async def on_chunk(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        """Count the new output; where it crosses the room, keep what fits and end the stream."""
        reservation = self._pending.get(id(exchange))
        meter = None if reservation is None else reservation.meter
        kept = None if meter is None else meter.window(exchange.streamed_text, window.text)
        if meter is None or kept is None:
            return None
        return StreamEdit(
            text=kept,
            terminate=_OUTPUT_LIMIT,
            ending=StreamEnding.LENGTH,
            output_tokens=meter.tokens,
        )

    def _unavailable(self, exchange: Exchange) -> Deny | None:
        if self.config.on_error == "open":
            self.open_admits += 1
            log.warning(
                "rate-limit backend unavailable; admitting unchecked (on_error: open)",
                extra={"request_id": exchange.request_id, "open_admits": self.open_admits},
            )
            return None
        log.warning(
            "rate-limit backend unavailable; refusing (on_error: closed)",
            extra={"request_id": exchange.request_id},
        )
        return _UNAVAILABLE

    def _estimate(self, exchange: Exchange) -> Estimate:
        request = exchange.request
        if request is None:
            return _NOTHING
        return Estimate(
            self.tokens.count(request), output_budget(request, self.config.default_max_tokens)
        )

    def _price(self, exchange: Exchange) -> Price | None:
        request = exchange.request
        return None if request is None else self.prices.find(request.model)

    async def on_complete(self, exchange: Exchange, outcome: Outcome) -> None:
        reservation = self._pending.pop(id(exchange), None)
        price = self._served_price(exchange, reservation)
        # Before any await: the audit record (built later from the exchange) sees the cost
        # whichever of the two layers runs first.
        actual = self._record_cost(exchange, reservation, price)
        if reservation is None or self.backend is None:
            return
        adjustments: list[Adjustment] = []
        plan = reservation.plan
        if plan.needs_tokens:
            if actual is None:
                actual = self._actual(exchange, reservation)
            costs = _costs(actual, price)
            for (limit, slot), charge in zip(plan.slots, reservation.charges, strict=True):
                delta = costs[slot] - charge.cost
                if delta and slot >= SETTLED_FROM:
                    adjustments.append(
                        Adjustment.of(limit.key, limit.period, delta, reservation.at)
                    )
        try:
            await self.backend.settle(adjustments, reservation.plan.leases, reservation.lease_id)
        except StorageError:
            log.warning(
                "rate-limit settle failed; its leases are released later",
                extra={"request_id": exchange.request_id},
            )
            self._lost(reservation.plan.leases, reservation.lease_id)

    def _served_price(self, exchange: Exchange, reservation: _Reservation | None) -> Price | None:
        """The price of the model that served: a fallback is priced as itself. A fallback
        without a price keeps the price reserved, so failing over never makes a call free."""
        reserved = None if reservation is None else reservation.price
        request = exchange.request
        if request is None or not self.prices:
            return reserved
        served = exchange.served_model or request.model
        if reserved is not None and served == request.model:
            return reserved
        return self.prices.find(served) or reserved or self.prices.find(request.model)

    def _actual(self, exchange: Exchange, reservation: _Reservation | None) -> Estimate:
        reserved = _NOTHING if reservation is None else reservation.estimate
        meter = None if reservation is None else reservation.meter
        usage = exchange.usage
        if meter is not None and exchange.stream_outcome is not None and (meter.cut or not usage):
            # cut (any usage seen is partial) or no usage: the output that passed, as counted
            meter.catch_up(exchange.streamed_text)
            prompt = reserved.input_tokens if usage is None else usage.input_tokens
            return Estimate(prompt, meter.tokens)
        return actual_usage(exchange, reserved, self._streamed_output(exchange))

    def _record_cost(
        self, exchange: Exchange, reservation: _Reservation | None, price: Price | None
    ) -> Estimate | None:
        """Set ``exchange.cost_usd`` for a call sent upstream to a priced model; return the
        usage it was computed from (reused to settle)."""
        if price is None or exchange.provider is None or exchange.request is None:
            return None
        actual = self._actual(exchange, reservation)
        micro = PriceTable.micro_usd(price, actual.input_tokens, actual.output_tokens)
        exchange.cost_usd = micro / 1_000_000
        return actual

    def _streamed_output(self, exchange: Exchange) -> int | None:
        """Completion tokens of the text a stream carried, for streams that sent no usage.

        Exact (the model's BPE) for OpenAI models with ``tokenizer: exact``; otherwise the
        documented estimate, one token per four UTF-8 bytes rounded up.
        """
        request = exchange.request
        if exchange.usage is not None or not exchange.count_stream_text or request is None:
            return None
        text = "".join(exchange.streamed_text)
        if not self.tokens.ready(request.model):
            return estimate_tokens(text)
        return self.tokens.count_text(text, request.model)


def _costs(estimate: Estimate, price: Price | None) -> tuple[int, ...]:
    """What one call costs on each kind of counter, in ``COST_SLOTS`` order."""
    tokens_in, tokens_out = estimate.input_tokens, estimate.output_tokens
    spend = 0 if price is None else PriceTable.micro_usd(price, tokens_in, tokens_out)
    return (1, 1, tokens_in, tokens_out, tokens_in + tokens_out, spend)
