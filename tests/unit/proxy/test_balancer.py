"""Deployment choice and circuit breaking, on a fake clock."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import pytest

from vallum.clock import FakeClock
from vallum.proxy.balancer import Balancer, Deployment, Strategy
from vallum.proxy.breaker import BreakerState, CircuitBreaker


class _Provider:
    def __init__(self, name: str) -> None:
        self.name = name


def _deployment(name: str, weight: int, clock: FakeClock) -> Deployment:
    provider = cast(Any, _Provider(name))
    return Deployment(provider, None, weight, CircuitBreaker(clock, threshold=2, open_seconds=5))


def test_breaker_opens_after_threshold_and_half_opens_after_the_wait() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=3, open_seconds=5, max_open_seconds=20)
    for _ in range(2):
        breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.OPEN and not breaker.acquire()
    clock.advance(5)
    assert breaker.acquire()  # the single half-open trial
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.acquire()  # no second trial while the first is in flight
    breaker.failure()  # failed trial: open again, for twice as long
    clock.advance(5)
    assert not breaker.acquire()
    clock.advance(5)
    assert breaker.acquire()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.acquire()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(FakeClock(), threshold=2)
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state is BreakerState.CLOSED


def test_weighted_round_robin_spreads_by_weight() -> None:
    clock = FakeClock()
    a, b = _deployment("a", 3, clock), _deployment("b", 1, clock)
    balancer = Balancer([a, b], Strategy.WEIGHTED_ROUND_ROBIN)
    picks = [balancer.pick() for _ in range(8)]
    assert Counter(d.provider.name for d in picks if d) == {"a": 6, "b": 2}
    assert [d.provider.name for d in picks[:4] if d].count("b") == 1  # smooth, not bursty


def test_open_breaker_is_skipped_and_retried_after_the_wait() -> None:
    clock = FakeClock()
    a, b = _deployment("a", 1, clock), _deployment("b", 1, clock)
    balancer = Balancer([a, b], Strategy.WEIGHTED_ROUND_ROBIN)
    a.breaker.failure()
    a.breaker.failure()
    assert {balancer.pick().provider.name for _ in range(4)} == {"b"}  # type: ignore[union-attr]
    clock.advance(5)
    assert "a" in {balancer.pick().provider.name for _ in range(4)}  # type: ignore[union-attr]


def test_no_healthy_deployment_gives_none() -> None:
    clock = FakeClock()
    a = _deployment("a", 1, clock)
    a.breaker.force_open(30)
    assert Balancer([a], Strategy.LEAST_IN_FLIGHT).pick() is None


def test_least_in_flight_and_exclusion() -> None:
    clock = FakeClock()
    a, b = _deployment("a", 1, clock), _deployment("b", 1, clock)
    a.in_flight = 4
    balancer = Balancer([a, b], Strategy.LEAST_IN_FLIGHT)
    assert balancer.pick() is b
    assert balancer.pick(exclude=[b]) is a


@pytest.mark.parametrize("key", ["team-a", "user-42", "k"])
def test_sticky_keys_keep_their_deployment(key: str) -> None:
    clock = FakeClock()
    deployments = [_deployment(n, 1, clock) for n in "abcd"]
    balancer = Balancer(deployments, Strategy.WEIGHTED_ROUND_ROBIN, sticky=True)
    first = balancer.pick(sticky_key=key)
    assert all(balancer.pick(sticky_key=key) is first for _ in range(5))
