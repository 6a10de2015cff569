"""Failover across deployments: which failures are retried, and that streams never repeat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from vallum.clock import FakeClock
from vallum.errors import UpstreamError, UpstreamTimeout
from vallum.providers.base import UpstreamRequest, UpstreamResponse
from vallum.proxy.balancer import Balancer, Deployment, Strategy
from vallum.proxy.breaker import BreakerState, CircuitBreaker
from vallum.proxy.failover import RetryPolicy, send_with_failover


class _Provider:
    def __init__(self, name: str, *answers: UpstreamResponse | UpstreamError) -> None:
        self.name = name
        self.answers = list(answers)
        self.calls = 0

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, UpstreamError):
            raise answer
        return answer


async def _no_sleep(seconds: float) -> None:
    return None


def _setup(*providers: _Provider) -> tuple[Balancer, list[Deployment]]:
    clock = FakeClock()
    deployments = [
        Deployment(cast(Any, p), None, 1, CircuitBreaker(clock, threshold=1)) for p in providers
    ]
    return Balancer(deployments, Strategy.WEIGHTED_ROUND_ROBIN), deployments


def _build(deployment: Deployment) -> UpstreamRequest:
    return UpstreamRequest("POST", "http://x/v1/chat/completions", [], b"{}")


async def _send(balancer: Balancer, attempts: int = 3) -> Any:
    return await send_with_failover(balancer, _build, RetryPolicy(attempts), sleep=_no_sleep)


@pytest.mark.parametrize(
    "failure",
    [
        UpstreamError("refused"),
        UpstreamTimeout("slow"),
        UpstreamResponse(500, body=b"{}"),
        UpstreamResponse(429, [("retry-after", "7")], body=b"{}"),
    ],
)
async def test_retryable_failures_move_to_the_next_deployment(failure: Any) -> None:
    bad, good = _Provider("bad", failure), _Provider("good", UpstreamResponse(200, body=b"{}"))
    balancer, (bad_dep, _) = _setup(bad, good)
    result = await _send(balancer)
    assert result.response.status == 200 and result.deployment.provider is good
    assert bad.calls == 1 and bad_dep.breaker.state is BreakerState.OPEN
    assert [a.outcome for a in result.attempts][-1] == "ok"


async def test_client_errors_are_not_retried() -> None:
    first = _Provider("a", UpstreamResponse(400, body=b"{}"))
    second = _Provider("b", UpstreamResponse(200, body=b"{}"))
    balancer, _ = _setup(first, second)
    result = await _send(balancer)
    assert result.response.status == 400 and second.calls == 0


async def test_all_failing_returns_the_last_answer_or_raises() -> None:
    balancer, _ = _setup(_Provider("a", UpstreamResponse(503, body=b"{}")))
    result = await _send(balancer, attempts=1)
    assert result.response.status == 503
    balancer, _ = _setup(
        _Provider("a", UpstreamError("down")), _Provider("b", UpstreamError("down"))
    )
    with pytest.raises(UpstreamError):
        await _send(balancer)


async def test_open_breakers_everywhere_means_no_healthy_upstream() -> None:
    balancer, deployments = _setup(_Provider("a", UpstreamResponse(200)))
    deployments[0].breaker.force_open(60)
    with pytest.raises(UpstreamError) as caught:
        await _send(balancer)
    assert caught.value.code == "no_healthy_upstream"


async def test_a_started_stream_is_returned_once_and_counted_in_flight() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        yield b"data: 2\n\n"

    provider = _Provider("a", UpstreamResponse(200, stream=chunks()))
    balancer, (deployment,) = _setup(provider)
    result = await _send(balancer)
    assert deployment.in_flight == 1
    assert result.response.stream is not None
    received = [chunk async for chunk in result.response.stream]
    assert received == [b"data: 1\n\n", b"data: 2\n\n"] and provider.calls == 1
    assert deployment.in_flight == 0


async def test_backoff_doubles_between_tries() -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    balancer, _ = _setup(*(_Provider(name, UpstreamError("x")) for name in "abc"))
    with pytest.raises(UpstreamError):
        await send_with_failover(
            balancer, _build, RetryPolicy(attempts=3, backoff=0.1, max_backoff=0.15), sleep=record
        )
    assert delays == [0.1, 0.15]
