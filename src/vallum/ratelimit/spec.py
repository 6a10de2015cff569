"""What a limit is: quota fields, the counter they become, and the charge a call makes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DAY",
    "MONTH",
    "Charge",
    "CounterState",
    "Limit",
    "Measure",
    "Quota",
    "Verdict",
    "quota_terms",
]

DAY = 86_400.0
MONTH = 30 * DAY  # a sliding 30-day window, not a calendar month
MICRO_USD = 1_000_000  # spend is counted in integer micro-dollars


class Measure(StrEnum):
    """What a counter counts; decides its algorithm."""

    REQUESTS = "requests"  # GCRA
    INPUT_TOKENS = "input_tokens"  # sliding window
    OUTPUT_TOKENS = "output_tokens"  # sliding window
    TOTAL_TOKENS = "tokens"  # sliding window
    SPEND = "spend"  # sliding window, micro-USD
    CONCURRENT = "concurrent"  # leases with a TTL

    @property
    def algorithm(self) -> str:
        if self is Measure.REQUESTS:
            return "rate"
        if self is Measure.CONCURRENT:
            return "lease"
        return "window"


class Quota(BaseModel):
    """Limit fields shared by key records, teams, roles and config rules (``None``: no limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_second: int | None = Field(None, ge=0, le=10**9, description="Requests/s.")
    requests_per_minute: int | None = Field(None, ge=0, le=10**9, description="Requests/min.")
    requests_per_hour: int | None = Field(None, ge=0, le=10**10, description="Requests/hour.")
    requests_per_day: int | None = Field(None, ge=0, le=10**11, description="Requests/day.")
    input_tokens_per_minute: int | None = Field(
        None, ge=0, le=10**12, description="Prompt tokens/min."
    )
    input_tokens_per_day: int | None = Field(
        None, ge=0, le=10**13, description="Prompt tokens/day."
    )
    output_tokens_per_minute: int | None = Field(
        None, ge=0, le=10**12, description="Completion tokens/min."
    )
    output_tokens_per_day: int | None = Field(
        None, ge=0, le=10**13, description="Completion tokens/day."
    )
    tokens_per_minute: int | None = Field(None, ge=0, le=10**12, description="All tokens/min.")
    tokens_per_day: int | None = Field(None, ge=0, le=10**13, description="All tokens/day.")
    max_concurrent: int | None = Field(None, ge=0, le=10**6, description="Calls in flight.")
    spend_per_day_usd: float | None = Field(None, ge=0, le=1e9, description="USD per day.")
    spend_per_month_usd: float | None = Field(
        None, ge=0, le=1e9, description="USD per 30 days (sliding)."
    )


# field -> (measure, period in seconds, short code used in counter keys)
_FIELDS: dict[str, tuple[Measure, float, str]] = {
    "requests_per_second": (Measure.REQUESTS, 1.0, "rps"),
    "requests_per_minute": (Measure.REQUESTS, 60.0, "rpm"),
    "requests_per_hour": (Measure.REQUESTS, 3600.0, "rph"),
    "requests_per_day": (Measure.REQUESTS, DAY, "rpd"),
    "input_tokens_per_minute": (Measure.INPUT_TOKENS, 60.0, "itpm"),
    "input_tokens_per_day": (Measure.INPUT_TOKENS, DAY, "itpd"),
    "output_tokens_per_minute": (Measure.OUTPUT_TOKENS, 60.0, "otpm"),
    "output_tokens_per_day": (Measure.OUTPUT_TOKENS, DAY, "otpd"),
    "tokens_per_minute": (Measure.TOTAL_TOKENS, 60.0, "tpm"),
    "tokens_per_day": (Measure.TOTAL_TOKENS, DAY, "tpd"),
    "max_concurrent": (Measure.CONCURRENT, 0.0, "conc"),
    "spend_per_day_usd": (Measure.SPEND, DAY, "usdd"),
    "spend_per_month_usd": (Measure.SPEND, MONTH, "usdm"),
}
# names the identity records use for the same things
_ALIASES = {
    "monthly_budget_usd": "spend_per_month_usd",
    "daily_budget_usd": "spend_per_day_usd",
    "max_concurrency": "max_concurrent",
}


@dataclass(frozen=True, slots=True)
class Term:
    """One limit of a quota, before it is bound to a dimension: (measure, period, limit)."""

    measure: Measure
    period: float
    limit: int
    code: str


def quota_terms(items: object) -> tuple[Term, ...]:
    """Terms of a ``Quota``, a record's quota model, or ``(name, value)`` pairs; unknown skipped."""
    if isinstance(items, BaseModel):
        pairs = list(items.model_dump(exclude_none=True).items())
    else:
        pairs = list(items)  # type: ignore[call-overload]
    terms: list[Term] = []
    for name, value in pairs:
        field = _ALIASES.get(name, name)
        known = _FIELDS.get(field)
        if known is None or value is None:
            continue
        measure, period, code = known
        limit = math.floor(float(value) * MICRO_USD) if measure is Measure.SPEND else int(value)
        terms.append(Term(measure, period, limit, code))
    return tuple(terms)


@dataclass(frozen=True, slots=True)
class Limit:
    """One counter: its storage key, what it counts, its limit and period."""

    key: str
    measure: Measure
    limit: int
    period: float
    scope: str  # for messages: key, team, ip, ... (never the id itself)


class Charge(NamedTuple):
    """What one call asks of one counter (a named tuple: built on every call)."""

    limit: Limit
    cost: int


class CounterState(NamedTuple):
    """A counter after a reserve: whether it had room, what is left, and when it recovers.

    ``reset_after``: seconds until the counter is back to full. ``retry_after``: when it
    had no room, seconds until the same charge would fit (``math.inf``: never, the charge
    is larger than the limit); 0.0 otherwise. A named tuple: one per counter per call.
    """

    allowed: bool
    remaining: int
    reset_after: float
    retry_after: float


class Verdict(NamedTuple):
    """The all-or-nothing outcome of one reserve; ``states`` is aligned with the charges."""

    admitted: bool
    states: tuple[CounterState, ...]
