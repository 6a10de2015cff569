"""Retries and failover across deployments, only while nothing has reached the client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from vallum.errors import UpstreamError
from vallum.providers.base import UpstreamRequest, UpstreamResponse
from vallum.proxy.balancer import Balancer, Deployment

__all__ = ["Attempt", "FailoverResult", "RetryPolicy", "send_with_failover"]

log = logging.getLogger("vallum.routing")

_MAX_RETRY_AFTER = 120.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # total tries across deployments, the first included
    backoff: float = 0.05  # seconds before the second try; doubles each time
    max_backoff: float = 1.0


@dataclass(frozen=True, slots=True)
class Attempt:
    deployment: str
    outcome: str  # "ok", "status_5xx", "status_429", "connect_error", "timeout"
    status: int | None = None


@dataclass(slots=True)
class FailoverResult:
    response: UpstreamResponse
    deployment: Deployment
    attempts: list[Attempt] = field(default_factory=list)


Build = Callable[[Deployment], UpstreamRequest]
Sleep = Callable[[float], Awaitable[None]]


async def send_with_failover(
    balancer: Balancer,
    build: Build,
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    sticky_key: str | None = None,
) -> FailoverResult:
    """Send to a healthy deployment; on connect errors, timeouts, 5xx and 429 try another.

    A response whose headers arrived is returned as soon as it is not retryable, so a stream
    that starts is never duplicated. When every try fails, the last upstream answer is
    returned (or the last error raised) for the caller to turn into 502/504/429.
    """
    attempts: list[Attempt] = []
    tried: list[Deployment] = []
    last: FailoverResult | None = None
    last_error: UpstreamError | None = None
    delay = policy.backoff
    for number in range(policy.attempts):
        # Retries go to *other* deployments: re-sending to the one that just failed or timed
        # out would only multiply the client's wait.
        deployment = balancer.pick(exclude=tried, sticky_key=sticky_key)
        if deployment is None:
            break
        if number:
            await sleep(delay)
            delay = min(delay * 2, policy.max_backoff)
        tried.append(deployment)
        deployment.in_flight += 1
        try:
            response = await deployment.provider.send(build(deployment))
        except UpstreamError as error:
            deployment.in_flight -= 1
            deployment.breaker.failure()
            kind = "timeout" if error.status == 504 else "connect_error"
            attempts.append(Attempt(deployment.name, kind))
            last_error = error
            continue
        except BaseException:
            deployment.in_flight -= 1
            raise
        outcome = _judge(deployment, response)
        attempts.append(Attempt(deployment.name, outcome, response.status))
        result = FailoverResult(_track(deployment, response), deployment, attempts)
        if outcome == "ok":
            return result
        last = result
        if number + 1 < policy.attempts:
            await _discard(result.response)
    if last is not None:
        return last
    if last_error is not None:
        last_error.context["attempts"] = [a.deployment for a in attempts]
        raise last_error
    raise UpstreamError(
        "No healthy upstream is available for this model.", code="no_healthy_upstream"
    )


def _judge(deployment: Deployment, response: UpstreamResponse) -> str:
    if response.status == 429:
        retry_after = _seconds(response.header("retry-after"))
        deployment.breaker.force_open(retry_after if retry_after is not None else 1.0)
        return "status_429"
    if response.status >= 500:
        deployment.breaker.failure()
        return "status_5xx"
    deployment.breaker.success()
    return "ok"


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _track(deployment: Deployment, response: UpstreamResponse) -> UpstreamResponse:
    """Count the call in flight until its body is done (streams: until the last chunk)."""
    if response.stream is None:
        deployment.in_flight -= 1
        return response
    response.stream = _counted(deployment, response.stream)
    return response


async def _counted(deployment: Deployment, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield chunk
    finally:
        deployment.in_flight -= 1
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()


async def _discard(response: UpstreamResponse) -> None:
    if response.stream is not None:
        closer = getattr(response.stream, "aclose", None)
        if closer is not None:
            await closer()
