"""What a detector reports, and the tunable thresholds every detector reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Severity", "Signal", "Thresholds", "WindowCount"]


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Signal:
    """One detector's finding about one subject, with its evidence (counts, scores, samples)."""

    detector: str
    severity: Severity
    subject: str  # "key:<id>", "ip:<addr>", "range:<cidr>"
    at: float
    key_id: str | None = None
    team: str | None = None
    ranges: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    samples: tuple[str, ...] = ()


@dataclass(slots=True)
class WindowCount:
    """A sliding-window count in three floats: this bucket, the previous one, its start."""

    start: float = 0.0
    current: float = 0.0
    previous: float = 0.0

    def add(self, at: float, window: float, amount: float = 1.0) -> float:
        self._roll(at, window)
        self.current += amount
        return self.value(at, window)

    def value(self, at: float, window: float) -> float:
        self._roll(at, window)
        weight = 1.0 - (at - self.start) / window
        return self.current + self.previous * max(weight, 0.0)

    def _roll(self, at: float, window: float) -> None:
        if at - self.start >= 2 * window:
            self.start, self.current, self.previous = at - at % window, 0.0, 0.0
        elif at - self.start >= window:
            self.start, self.previous, self.current = self.start + window, self.current, 0.0


class Thresholds(BaseModel):
    """Detector thresholds; defaults are the recommended ones (see docs/anomaly.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extraction_events: int = Field(
        32, ge=8, le=256, description="Recent prompts per key the extraction detector weighs."
    )
    extraction_span: float = Field(
        900.0, gt=0, le=86400, description="Seconds those prompts must fit in (rate gate)."
    )
    extraction_fast_rate: float = Field(
        60.0, gt=0, le=1e6, description="Requests/min above which extraction is critical."
    )
    near_duplicate: float = Field(
        0.5, gt=0, le=1, description="Similarity at which two different prompts are near-twins."
    )
    near_duplicate_ratio: float = Field(
        0.5, gt=0, le=1, description="Share of near-twin prompts that marks systematic variation."
    )
    min_templates: int = Field(
        4, ge=2, le=64, description="Distinct prompt openings that mark breadth across templates."
    )
    sweep_combos: int = Field(
        3, ge=2, le=64, description="Distinct logprobs/n/temperature settings that mark a sweep."
    )
    extraction_score: float = Field(
        2.0, gt=0, le=10, description="Score (variation + breadth + sweep) that flags extraction."
    )
    auth_window: float = Field(
        60.0, gt=0, le=86400, description="Window of the failed-authentication counts, s."
    )
    auth_fail_ip: int = Field(10, ge=2, le=10**6, description="Failures from one IP to flag.")
    auth_fail_range: int = Field(20, ge=2, le=10**6, description="Failures from one range.")
    auth_fail_range_ips: int = Field(
        4, ge=1, le=256, description="Distinct IPs in the range needed to call it stuffing."
    )
    dead_key_tries: int = Field(
        3, ge=1, le=10**6, description="Tries of a revoked/expired key (per auth window x 10)."
    )
    unrelated_networks: int = Field(
        3, ge=2, le=64, description="Distinct /16 networks using one key within 10 minutes."
    )
    guard_window: float = Field(
        600.0, gt=0, le=86400, description="Window of the input-guard block counts, s."
    )
    guard_blocks: int = Field(5, ge=1, le=10**6, description="Guard blocks to flag (medium).")
    guard_min_score: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description="Least detector score of a guard block that counts towards persistence.",
    )
    guard_blocks_high: int = Field(15, ge=2, le=10**6, description="Guard blocks (high).")
    spike_sigmas: float = Field(8.0, gt=0, le=100, description="Spread multiples of a spike.")
    spike_ratio: float = Field(4.0, ge=1, le=1000, description="Times the long mean of a spike.")
    spike_min_requests: int = Field(
        120, ge=1, le=10**7, description="Requests in a minute below which nothing is a spike."
    )
    spike_min_tokens: int = Field(
        200_000, ge=1, le=10**12, description="Tokens in a minute below which no cost spike."
    )
    warmup_minutes: int = Field(
        30, ge=0, le=100_000, description="Minutes of history before a key is judged by its own."
    )
    warmup_cap: int = Field(
        1200, ge=1, le=10**7, description="Requests/min a key in warm-up may reach unflagged."
    )
    budget_factor: float = Field(
        2.0, ge=1, le=1000, description="Projected daily tokens / tokens_per_day that flags cost."
    )
    cooldown: float = Field(
        300.0, ge=0, le=86400, description="Seconds before the same signal is raised again."
    )
