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
_KINDS = ("requests", "tokens")
_OPENAI_NAMES = {
    kind: tuple(f"x-ratelimit-{part}-{kind}" for part in ("limit", "remaining", "reset"))
    for kind in _KINDS
}
_ANTHROPIC_NAMES = {
    kind: tuple(f"anthropic-ratelimit-{kind}-{part}" for part in ("limit", "remaining", "reset"))
    for kind in _KINDS
}
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
    if seconds < 60 and seconds == int(seconds):
        return f"{int(seconds)}s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def _tightest(charges: Sequence[Charge], states: Sequence[CounterState]) -> tuple[int, int]:
    """Indices of the tightest request counter and token counter (-1: none), in one pass.

    Tightest: a refused counter before an admitting one, then the fewest remaining.
    """
    best_req = best_tok = -1
    req_rank: tuple[bool, int] = (False, 0)
    tok_rank = req_rank
    for i, charge in enumerate(charges):
        measure = charge.limit.measure
        if measure is Measure.REQUESTS:
            state = states[i]
            rank = (not state.allowed, -state.remaining)
            if best_req < 0 or rank > req_rank:
                best_req, req_rank = i, rank
        elif measure in _TOKEN_MEASURES:
            state = states[i]
            rank = (not state.allowed, -state.remaining)
            if best_tok < 0 or rank > tok_rank:
                best_tok, tok_rank = i, rank
    return best_req, best_tok


def _rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(at)))


def rate_headers(
    charges: Sequence[Charge], states: Sequence[CounterState], wire: WireFormat, now: float
) -> list[tuple[str, str]]:
    """The rate-limit headers for a response (success or refusal)."""
    out: list[tuple[str, str]] = []
    anthropic = wire is WireFormat.ANTHROPIC
    for kind, index in zip(_KINDS, _tightest(charges, states), strict=True):
        if index < 0:
            continue
        state = states[index]
        names = _ANTHROPIC_NAMES[kind] if anthropic else _OPENAI_NAMES[kind]
        reset = (
            _rfc3339(now + state.reset_after) if anthropic else format_duration(state.reset_after)
        )
        out.append((names[0], str(charges[index].limit.limit)))
        out.append((names[1], str(state.remaining)))
        out.append((names[2], reset))
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
    return Deny(429, "rate_limit_exceeded", message, _error_type(charge), headers=headers)


def _error_type(charge: Charge) -> str:
    """The error ``type``: which kind of limit refused (``requests``, ``tokens``,
    ``concurrency``); budgets answer ``insufficient_quota`` above."""
    measure = charge.limit.measure
    if measure is Measure.REQUESTS:
        return "requests"
    if measure is Measure.CONCURRENT:
        return "concurrency"
    return "tokens"
