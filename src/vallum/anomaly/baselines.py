"""Rolling baselines: per-minute counts folded into EWMAs of mean and absolute deviation.

Two time scales (short and long half-lives) per subject (key, principal, team, IP range).
Minutes with no traffic are folded in closed form, so an idle subject costs nothing.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

__all__ = ["Baseline", "Scale", "SpikeCheck"]

_PACK = struct.Struct("<d4f8f")  # bucket start; count, tokens, minutes, peak; 4 scales x 2


@dataclass(slots=True)
class Scale:
    """EWMA of a per-minute series and of its absolute deviation (a robust spread)."""

    alpha: float
    mean: float = 0.0
    dev: float = 0.0

    def fold(self, value: float) -> None:
        error = value - self.mean
        self.mean += self.alpha * error
        self.dev += self.alpha * (abs(error) - self.dev)

    def fold_zeros(self, count: int) -> None:
        """``count`` empty minutes: the mean decays geometrically; deviation moves toward it."""
        if count <= 0:
            return
        keep = (1.0 - self.alpha) ** count
        old_mean = self.mean
        self.mean *= keep
        # each zero adds |0 - mean| ~ mean to the deviation EWMA; approximate by the average mean
        self.dev = self.dev * keep + (1.0 - keep) * (old_mean + self.mean) / 2.0

    def upper(self, sigmas: float) -> float:
        """mean + sigmas x spread, the spread floored by Poisson noise (sqrt of the mean) + 1."""
        spread = max(self.dev * 1.2533, math.sqrt(max(self.mean, 0.0)) + 1.0)  # MAD -> sigma
        return self.mean + sigmas * spread


@dataclass(frozen=True, slots=True)
class SpikeCheck:
    """The last closed minute against the baseline it is judged by."""

    requests: float
    tokens: float
    expected_requests: float
    expected_tokens: float
    request_spike: bool
    token_spike: bool


@dataclass(slots=True)
class Baseline:
    """Per-minute requests and tokens of one subject, on a short and a long scale."""

    short_half_life: float = 10.0  # minutes
    long_half_life: float = 240.0
    bucket: float = -1.0  # start of the open minute (epoch seconds, multiple of 60)
    count: float = 0.0
    tokens: float = 0.0
    minutes: float = 0.0  # minutes of history folded (warm-up)
    peak: float = 0.0  # busiest minute seen, decaying with the long half-life
    requests_short: Scale = field(init=False)
    requests_long: Scale = field(init=False)
    tokens_short: Scale = field(init=False)
    tokens_long: Scale = field(init=False)

    def __post_init__(self) -> None:
        short = 1.0 - 0.5 ** (1.0 / self.short_half_life)
        long = 1.0 - 0.5 ** (1.0 / self.long_half_life)
        self.requests_short, self.requests_long = Scale(short), Scale(long)
        self.tokens_short, self.tokens_long = Scale(short), Scale(long)

    def add(self, at: float, tokens: int) -> bool:
        """Count one call at ``at``; True when this closed at least one minute."""
        minute = at - at % 60.0
        closed = False
        if self.bucket < 0:
            self.bucket = minute
        elif minute > self.bucket:
            self._close(minute)
            closed = True
        self.count += 1.0
        self.tokens += tokens
        return closed

    def _close(self, minute: float) -> None:
        gap_minutes = (minute - self.bucket) / 60.0
        self.peak = max(self.peak * 0.5 ** (gap_minutes / self.long_half_life), self.count)
        self.requests_short.fold(self.count)
        self.requests_long.fold(self.count)
        self.tokens_short.fold(self.tokens)
        self.tokens_long.fold(self.tokens)
        gap = int((minute - self.bucket) // 60.0) - 1
        for scale in (self.requests_short, self.requests_long, self.tokens_short, self.tokens_long):
            scale.fold_zeros(gap)
        self.minutes += 1 + max(gap, 0)
        self.bucket = minute
        self.count = self.tokens = 0.0

    def check(self, sigmas: float, ratio: float, peak_factor: float = 1.5) -> SpikeCheck:
        """Is the open minute a spike: above mean + k·spread, ratio x mean and the past peak?"""
        long_req, long_tok = self.requests_long, self.tokens_long
        expected_req = max(long_req.upper(sigmas), long_req.mean * ratio, self.peak * peak_factor)
        expected_tok = max(long_tok.upper(sigmas), long_tok.mean * ratio)
        return SpikeCheck(
            requests=self.count,
            tokens=self.tokens,
            expected_requests=expected_req,
            expected_tokens=expected_tok,
            request_spike=self.count > expected_req,
            token_spike=self.tokens > expected_tok,
        )

    def pack(self) -> bytes:
        """Compact serialization (for shared state and the per-key size budget)."""
        scales = (self.requests_short, self.requests_long, self.tokens_short, self.tokens_long)
        values = [v for s in scales for v in (s.mean, s.dev)]
        return _PACK.pack(self.bucket, self.count, self.tokens, self.minutes, self.peak, *values)
