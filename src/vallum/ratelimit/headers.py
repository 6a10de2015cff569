"""Client-facing answers: the 429 refusal and the ``x-ratelimit-*`` headers, per wire format.

OpenAI sends ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` with resets like
``6m0s``; Anthropic sends ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}``
with RFC 3339 reset times. The headers describe the tightest counter of each kind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from vallum.pipeline.exchange import WireFormat
from vallum.pipeline.layer import Deny
from vallum.ratelimit.spec import MICRO_USD, Charge, CounterState, Measure

__all__ = ["MAX_RETRY_AFTER", "format_duration", "rate_headers", "refusal"]

MAX_RETRY_AFTER = 120
_TOKEN_MEASURES = (Measure.TOTAL_TOKENS, Measure.INPUT_TOKENS, Measure.OUTPUT_TOKENS)
_PERIOD_NAMES = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86_400.0: "day"}
_MEASURE_NAMES = {
    Measure.REQUESTS: "requests",
    Measure.INPUT_TOKENS: "input tokens",
    Measure.OUTPUT_TOKENS: "output tokens",
    Measure.TOTAL_TOKENS: "tokens",
    Measure.SPEND: "spend",
    Measure.CONCURRENT: "concurrent requests",
}


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1s``, ``6.5s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def _tightest(
    charges: Sequence[Charge], states: Sequence[CounterState], measures: tuple[Measure, ...]
) -> tuple[Charge, CounterState] | None:
    best: tuple[Charge, CounterState] | None = None
    for charge, state in zip(charges, states, strict=True):
        if charge.limit.measure not in measures:
            continue
        if best is None or (not state.allowed, -state.remaining) > (
            not best[1].allowed,
            -best[1].remaining,
        ):
            best = (charge, state)
    return best


def _rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(at)))


def rate_headers(
    charges: Sequence[Charge], states: Sequence[CounterState], wire: WireFormat, now: float
) -> list[tuple[str, str]]:
    """The rate-limit headers for a response (success or refusal)."""
    out: list[tuple[str, str]] = []
    for kind, measures in (("requests", (Measure.REQUESTS,)), ("tokens", _TOKEN_MEASURES)):
        found = _tightest(charges, states, measures)
        if found is None:
            continue
        charge, state = found
        if wire is WireFormat.ANTHROPIC:
            prefix = f"anthropic-ratelimit-{kind}-"
            reset = _rfc3339(now + state.reset_after)
        else:
            prefix = "x-ratelimit-"
            reset = format_duration(state.reset_after)
        suffix = "" if wire is WireFormat.ANTHROPIC else f"-{kind}"
        out.append((f"{prefix}limit{suffix}", str(charge.limit.limit)))
        out.append((f"{prefix}remaining{suffix}", str(state.remaining)))
        out.append((f"{prefix}reset{suffix}", reset))
    return out


def _describe(charge: Charge) -> str:
    limit = charge.limit
    what = _MEASURE_NAMES[limit.measure]
    if limit.measure is Measure.CONCURRENT:
        return f"{what} for this {limit.scope}: limit {limit.limit}"
    period = _PERIOD_NAMES.get(limit.period, f"{limit.period / 86_400:g} days")
    if limit.measure is Measure.SPEND:
        budget = limit.limit / MICRO_USD
        return f"spend per {period} for this {limit.scope}: budget ${budget:.2f}"
    return (
        f"{what} per {period} for this {limit.scope}: limit {limit.limit}, requested {charge.cost}"
    )


def refusal(
    charges: Sequence[Charge], states: Sequence[CounterState], wire: WireFormat, now: float
) -> Deny:
    """The 429 for a refused reserve: budgets first (``insufficient_quota``), then rates."""
    failed = [(c, s) for c, s in zip(charges, states, strict=True) if not s.allowed]
    budget = [pair for pair in failed if pair[0].limit.measure is Measure.SPEND]
    charge, _ = (budget or failed)[0]
    wait = max(s.retry_after for _, s in failed)
    never = math.isinf(wait)
    retry_after = MAX_RETRY_AFTER if never else min(MAX_RETRY_AFTER, max(1, math.ceil(wait)))
    headers = dict(rate_headers(charges, states, wire, now))
    headers["retry-after"] = str(retry_after)
    if not never:
        headers["retry-after-ms"] = str(min(MAX_RETRY_AFTER * 1000, max(1, math.ceil(wait * 1000))))
    if budget or never:
        headers["x-should-retry"] = "false"  # waiting a little will not help
    if budget:
        return Deny(
            429,
            "insufficient_quota",
            f"You exceeded your budget: {_describe(charge)}.",
            "insufficient_quota",
            headers=headers,
        )
    if never:
        message = f"Request too large: {_describe(charge)}."
    else:
        message = (
            f"Rate limit reached on {_describe(charge)}. "
            f"Please try again in {format_duration(wait)}."
        )
    kind = "requests" if charge.limit.measure is Measure.REQUESTS else "tokens"
    return Deny(429, "rate_limit_exceeded", message, kind, headers=headers)
