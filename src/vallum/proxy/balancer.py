"""Choosing a deployment for a model: weighted round-robin or least in flight, breakers honoured."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from vallum.proxy.breaker import CircuitBreaker

if TYPE_CHECKING:
    from vallum.proxy.upstreams import Provider

__all__ = ["Balancer", "Deployment", "Strategy"]


class Strategy(StrEnum):
    WEIGHTED_ROUND_ROBIN = "weighted_round_robin"
    LEAST_IN_FLIGHT = "least_in_flight"


@dataclass(eq=False, slots=True)
class Deployment:
    """One place a model alias can be served: a provider, the upstream model name, a weight."""

    provider: Provider
    upstream_model: str | None
    weight: int
    breaker: CircuitBreaker
    in_flight: int = 0
    current_weight: int = field(default=0)  # smooth weighted round-robin state

    @property
    def name(self) -> str:
        return f"{self.provider.name}/{self.upstream_model or '*'}"


class Balancer:
    """Picks among the deployments of one alias; never returns one whose breaker is open."""

    def __init__(
        self, deployments: Sequence[Deployment], strategy: Strategy, *, sticky: bool = False
    ) -> None:
        self.deployments = list(deployments)
        self.strategy = strategy
        self.sticky = sticky

    def pick(
        self, exclude: Sequence[Deployment] = (), sticky_key: str | None = None
    ) -> Deployment | None:
        candidates = [d for d in self.deployments if d not in exclude and d.breaker.available()]
        if not candidates:
            return None
        if self.sticky and sticky_key is not None:
            chosen = _rendezvous(candidates, sticky_key)
        elif self.strategy is Strategy.LEAST_IN_FLIGHT:
            chosen = min(candidates, key=lambda d: (d.in_flight / d.weight, -d.weight))
        else:
            chosen = _smooth_wrr(candidates)
        return chosen if chosen.breaker.acquire() else self._fallback(candidates, chosen)

    def _fallback(self, candidates: list[Deployment], taken: Deployment) -> Deployment | None:
        # A half-open breaker admits one trial; if another request already holds it, try the rest.
        for deployment in candidates:
            if deployment is not taken and deployment.breaker.acquire():
                return deployment
        return None


def _smooth_wrr(candidates: list[Deployment]) -> Deployment:
    """nginx's smooth weighted round-robin: even spread, no bursts to the heaviest."""
    total = 0
    best: Deployment | None = None
    for deployment in candidates:
        deployment.current_weight += deployment.weight
        total += deployment.weight
        if best is None or deployment.current_weight > best.current_weight:
            best = deployment
    assert best is not None  # noqa: S101 - candidates is never empty here
    best.current_weight -= total
    return best


def _rendezvous(candidates: list[Deployment], key: str) -> Deployment:
    """Highest-random-weight hashing: the same key keeps its deployment while it stays healthy."""

    def score(deployment: Deployment) -> int:
        digest = hashlib.blake2b(f"{key}|{deployment.name}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") * deployment.weight

    return max(candidates, key=score)
