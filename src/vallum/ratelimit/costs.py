"""What a call is expected to cost before it runs, and what it cost after: tokens and money."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from vallum.identity.model import compile_patterns
from vallum.pipeline.exchange import Endpoint, Exchange, NormalizedRequest

__all__ = [
    "Estimate",
    "Price",
    "PriceTable",
    "actual_usage",
    "output_budget",
    "shipped_prices",
]

_MAX_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


class Price(BaseModel):
    """USD per million tokens for the models matching ``model``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(
        pattern=r"^[A-Za-z0-9*][A-Za-z0-9._:/@*-]{0,127}$",
        description="Model name or pattern ('*' matches any run), as clients send it.",
    )
    input_per_million: float = Field(ge=0, le=100_000, description="USD per 1M prompt tokens.")
    output_per_million: float = Field(ge=0, le=100_000, description="USD per 1M completion tokens.")


def shipped_prices() -> tuple[str, list[Price]]:
    """The dated list prices that ship in the package: (as-of date, prices)."""
    data = json.loads(resources.files("vallum.ratelimit").joinpath("prices.json").read_text())
    return str(data["as_of"]), [Price.model_validate(entry) for entry in data["prices"]]


class PriceTable:
    """First matching price wins; spend is counted in integer micro-dollars."""

    def __init__(self, prices: Sequence[Price]) -> None:
        self._entries = [(compile_patterns((p.model,)), p) for p in prices]

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, model: str) -> Price | None:
        for matcher, price in self._entries:
            if matcher.match(model):
                return price
        return None

    @staticmethod
    def micro_usd(price: Price, input_tokens: int, output_tokens: int) -> int:
        # USD per 1M tokens is exactly micro-USD per token
        return math.ceil(
            input_tokens * price.input_per_million + output_tokens * price.output_per_million
        )


class Estimate(NamedTuple):
    """Tokens of one call, in and out (a named tuple: built on every call)."""

    input_tokens: int
    output_tokens: int


def output_budget(request: NormalizedRequest, default: int) -> int:
    """Completion tokens to reserve: the request's own bound (times ``n``), else ``default``."""
    if request.endpoint is Endpoint.EMBEDDINGS:
        return 0
    body = request.body
    bound = next(
        (body[f] for f in _MAX_TOKEN_FIELDS if isinstance(body.get(f), int) and body[f] > 0),
        default,
    )
    choices = body.get("n")
    copies = choices if isinstance(choices, int) and not isinstance(choices, bool) else 1
    return int(bound) * max(1, copies)


def actual_usage(
    exchange: Exchange, reserved: Estimate, streamed_output: int | None = None
) -> Estimate:
    """Real usage when the upstream reported it; zero when no call reached the model;
    for a stream without a usage block, the reserved prompt plus ``streamed_output`` (the
    tokens counted from the streamed text) when given; else the reservation itself (kept,
    conservatively)."""
    usage: Any = exchange.usage
    if usage is not None:
        return Estimate(int(usage.input_tokens), int(usage.output_tokens))
    if exchange.provider is None:
        return Estimate(0, 0)
    status = exchange.status or 0
    if status >= 400 and exchange.stream_outcome is None:
        return Estimate(0, 0)  # the upstream refused or failed: nothing was generated
    if streamed_output is not None and exchange.stream_outcome is not None:
        return Estimate(reserved.input_tokens, streamed_output)
    return reserved
