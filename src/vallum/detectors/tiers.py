"""Cascade config: the uncertain band and the later tiers of one detector kind.

The tier types a config may name are the members of ``TierConfig`` (a union
discriminated by ``type``); each member's ``build()`` makes its tier. A new tier type is
one config class with a ``build()`` and one entry in that union.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vallum.detectors.cascade import Cascade, Tier
from vallum.detectors.http_guard import HttpGuardConfig
from vallum.detectors.semantic.config import SemanticTierConfig
from vallum.errors import ConfigError

__all__ = ["CascadeConfig", "CascadesConfig", "TierConfig", "build_cascade", "build_tier"]

TierConfig = Annotated[HttpGuardConfig | SemanticTierConfig, Field(discriminator="type")]


def build_tier(config: TierConfig) -> Tier:
    """The tier a config names."""
    return config.build()


class CascadeConfig(BaseModel):
    """When a detector's later tiers are consulted, and which they are (in order)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    band_low: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Fast-tier scores at or above this (and below `band_high`) are uncertain: "
        "the later tiers decide those texts.",
    )
    band_high: float = Field(
        0.9, ge=0.0, le=1.0, description="Fast-tier scores at or above this are sure."
    )
    short_chars: int = Field(
        0,
        ge=0,
        le=100_000,
        description="User turns of at most this many characters are always consulted "
        "(0: off); meant for the content policy, whose fast model reads little in a short turn.",
    )
    tiers: list[TierConfig] = Field(
        default_factory=list, max_length=4, description="The later tiers, asked in order."
    )

    @model_validator(mode="after")
    def _band(self) -> CascadeConfig:
        if self.band_low > self.band_high:
            raise ValueError("band_low must not exceed band_high")
        return self


class CascadesConfig(BaseModel):
    """Later tiers per detector kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    injection: CascadeConfig | None = Field(
        None, description="Tiers for prompt injection (user turns, documents, tool results)."
    )
    content: CascadeConfig | None = Field(None, description="Tiers for the content policy.")


def build_cascade(detector: str, config: CascadeConfig) -> Cascade:
    """The cascade of one detector kind; every tier must be able to judge that kind."""
    tiers: list[tuple[Tier, TierConfig]] = []
    for index, tier_config in enumerate(config.tiers):
        tier = build_tier(tier_config)
        if detector not in tier.kinds:
            raise ConfigError(
                f"cascade.{detector}.tiers[{index}]: {tier.name} does not judge {detector} "
                f"(it judges: {', '.join(sorted(tier.kinds))})"
            )
        tiers.append((tier, tier_config))
    return Cascade(detector, tiers, (config.band_low, config.band_high), config.short_chars)
