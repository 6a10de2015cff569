"""The ratelimit layer: reserve on request, settle on completion, answers like OpenAI's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.support.servers import free_port
from vallum.clock import FakeClock
from vallum.identity.model import AuthMethod, Identity, PrincipalKind
from vallum.layers.ratelimit import Ratelimit, RatelimitConfig
from vallum.pipeline.exchange import (
    Endpoint,
    Exchange,
    NormalizedRequest,
    Source,
    TextPart,
    Usage,
    WireFormat,
)
from vallum.pipeline.layer import Deny, LayerContext, Outcome

Make = Callable[..., Ratelimit]
DONE = Outcome(status=200, error_code=None, decided_by=None, duration=0.1)


def identity(
    key: str = "key1", team: str | None = None, roles: tuple[str, ...] = (), **quota: float
) -> Identity:
    return Identity(
        principal_id=f"user-{key}",
        kind=PrincipalKind.KEY,
        method=AuthMethod.API_KEY,
        credential_id=key,
        team=team,
        roles=frozenset(roles),
        quota=tuple(quota.items()),
    )


def call(
    *,
    who: Identity | None = None,
    ip: str = "10.0.0.7",
    model: str = "mock-echo",
    text: str = "hello there",
    body: dict[str, Any] | None = None,
    stream: bool = False,
    wire: WireFormat = WireFormat.OPENAI,
) -> Exchange:
    endpoint = Endpoint.MESSAGES if wire is WireFormat.ANTHROPIC else Endpoint.CHAT
    request = NormalizedRequest(
        endpoint=endpoint,
        wire=wire,
        model=model,
        stream=stream,
        body={"model": model, **(body or {})},
        parts=[TextPart(text, Source.USER, ("messages", 0, "content"), 0)],
        message_count=1,
    )
    return Exchange(
        request_id="req_1",
        method="POST",
        path="/v1/chat/completions",
        client_ip=ip,
        headers={},
        started=0.0,
        wire=wire,
        endpoint=endpoint,
        request=request,
        identity=who,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_040.0)


@pytest.fixture
async def make(clock: FakeClock) -> AsyncIterator[Make]:
    layers: list[Ratelimit] = []

    async def build(**config: Any) -> Ratelimit:
        config.setdefault("tokenizer", "estimate")
        layer = Ratelimit(RatelimitConfig(**config), LayerContext(clock=clock))
        await layer.start()
        layers.append(layer)
        return layer

    yield build  # type: ignore[misc]
    for layer in layers:
        await layer.stop()


def denied(result: Deny | None) -> Deny:
    assert isinstance(result, Deny)
    return result


async def finish(layer: Ratelimit, exchange: Exchange, usage: Usage | None = None) -> None:
    exchange.provider = "mock"
    exchange.status = 200
    exchange.usage = usage
    await layer.on_complete(exchange, DONE)


async def test_no_applicable_limit_passes_without_headers(make: Make) -> None:
    layer = await make(limits=[{"scope": "team", "requests_per_minute": 1}])
    exchange = call(who=None)
    assert await layer.on_request(exchange) is None
    assert exchange.response_headers == []


async def test_rate_limit_answers_429_with_openai_headers(make: Make, clock: FakeClock) -> None:
    layer = await make(limits=[{"scope": "ip", "requests_per_minute": 2}])
    first = call()
    assert await layer.on_request(first) is None
    assert ("x-ratelimit-limit-requests", "2") in first.response_headers
    assert ("x-ratelimit-remaining-requests", "1") in first.response_headers
    assert ("x-ratelimit-reset-requests", "30s") in first.response_headers
    assert await layer.on_request(call()) is None
    deny = denied(await layer.on_request(call()))
    assert (deny.status, deny.code, deny.error_type) == (429, "rate_limit_exceeded", "requests")
    assert deny.headers["retry-after"] == "30"
    assert deny.headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-should-retry" not in deny.headers
    assert "10.0.0.7" not in deny.message
    assert await layer.on_request(call(ip="10.0.0.8")) is None  # another IP: its own counter
    clock.advance(30)
    assert await layer.on_request(call()) is None


async def test_key_record_team_and_role_limits_all_apply(make: Make) -> None:
    layer = await make(
        teams={"research": {"requests_per_minute": 3}},
        roles={"free": {"requests_per_minute": 1}},
    )
    alice = identity("alice", team="research", requests_per_minute=5)
    bob = identity("bob", team="research", roles=("free",), requests_per_minute=5)
    assert await layer.on_request(call(who=bob)) is None
    assert denied(await layer.on_request(call(who=bob))).code == "rate_limit_exceeded"  # role
    assert await layer.on_request(call(who=alice)) is None
    assert await layer.on_request(call(who=alice)) is None
    assert await layer.on_request(call(who=alice)) is not None  # the team's pool of 3 is spent


async def test_concurrency_lease_is_released_on_completion(make: Make) -> None:
    layer = await make(limits=[{"scope": "key", "max_concurrent": 1}])
    who = identity()
    first = call(who=who)
    assert await layer.on_request(first) is None
    deny = denied(await layer.on_request(call(who=who)))
    assert deny.code == "rate_limit_exceeded" and deny.headers["retry-after"] == "1"
    assert deny.error_type == "concurrency"  # which limit refused: not "tokens"
    failed = Outcome(status=499, error_code=None, decided_by=None, duration=1.0)
    first.status, first.stream_outcome = 499, "client_disconnected"
    await layer.on_complete(first, failed)
    assert await layer.on_request(call(who=who)) is None


async def test_tokens_settle_to_real_usage(make: Make) -> None:
    layer = await make(limits=[{"scope": "key", "tokens_per_minute": 100}])
    who = identity()
    first = call(who=who, body={"max_tokens": 80})
    assert await layer.on_request(first) is None
    assert denied(await layer.on_request(call(who=who, body={"max_tokens": 80}))).error_type == (
        "tokens"
    )
    await finish(layer, first, Usage(3, 7))
    second = call(who=who, body={"max_tokens": 80})
    assert await layer.on_request(second) is None
    remaining = dict(second.response_headers)["x-ratelimit-remaining-tokens"]
    prompt = 3 + 3 + 3  # ceil(11 bytes / 4), one message, the reply priming
    assert remaining == str(100 - (3 + 7) - (prompt + 80))


async def test_a_call_that_never_reached_the_model_is_refunded(make: Make) -> None:
    layer = await make(limits=[{"scope": "ip", "tokens_per_minute": 100}])
    first = call(body={"max_tokens": 90})
    assert await layer.on_request(first) is None
    first.status = 400  # a later layer refused it; no provider was called
    await layer.on_complete(first, DONE)
    assert await layer.on_request(call(body={"max_tokens": 90})) is None


async def test_request_too_large_for_the_limit_is_not_retried(make: Make) -> None:
    layer = await make(limits=[{"scope": "ip", "tokens_per_minute": 100}])
    deny = denied(await layer.on_request(call(body={"max_tokens": 500})))
    assert deny.message.startswith("Request too large")
    assert deny.headers["x-should-retry"] == "false"
    assert deny.headers["retry-after"] == "120"


async def test_budget_exhaustion_is_insufficient_quota(make: Make) -> None:
    layer = await make(
        limits=[{"scope": "team", "spend_per_day_usd": 0.01}],
        prices=[{"model": "mock-*", "input_per_million": 1000, "output_per_million": 1000}],
    )
    who = identity(team="t1")
    first = call(who=who, body={"max_tokens": 1})
    assert await layer.on_request(first) is None  # (9 + 1) tokens * $0.001: the whole $0.01
    deny = denied(await layer.on_request(call(who=who, body={"max_tokens": 1})))
    assert (deny.status, deny.code, deny.error_type) == (
        429,
        "insufficient_quota",
        "insufficient_quota",
    )
    assert deny.headers["x-should-retry"] == "false"
    assert int(deny.headers["retry-after"]) <= 120


async def test_key_budget_from_the_record_and_unpriced_models(make: Make) -> None:
    layer = await make(
        prices=[{"model": "gpt-4o", "input_per_million": 2.5, "output_per_million": 10}]
    )
    who = identity(monthly_budget_usd=5.0)
    assert await layer.on_request(call(who=who, model="gpt-4o")) is None
    deny = denied(await layer.on_request(call(who=who, model="unknown-model")))
    assert (deny.status, deny.code) == (403, "model_not_priced")
    free = await make(unpriced_models="free", key_prefix="other")
    assert await free.on_request(call(who=who, model="unknown-model")) is None


async def test_anthropic_routes_get_anthropic_headers(make: Make) -> None:
    layer = await make(
        limits=[{"scope": "ip", "requests_per_minute": 1, "tokens_per_minute": 10_000}]
    )
    first = call(wire=WireFormat.ANTHROPIC, body={"max_tokens": 10})
    assert await layer.on_request(first) is None
    names = {name for name, _ in first.response_headers}
    assert {"anthropic-ratelimit-requests-limit", "anthropic-ratelimit-tokens-remaining"} <= names
    reset = dict(first.response_headers)["anthropic-ratelimit-requests-reset"]
    assert reset.endswith("Z") and "T" in reset
    deny = denied(await layer.on_request(call(wire=WireFormat.ANTHROPIC, body={"max_tokens": 10})))
    assert deny.status == 429 and "retry-after" in deny.headers


async def test_backend_down_fails_closed_by_default(make: Make) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    layer = await make(
        url=dead, backend_timeout=0.2, limits=[{"scope": "ip", "requests_per_minute": 5}]
    )
    deny = denied(await layer.on_request(call()))
    assert (deny.status, deny.code) == (503, "rate_limiter_unavailable")
    assert layer.open_admits == 0


async def test_backend_down_admits_in_open_mode_and_counts_it(make: Make) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    layer = await make(
        url=dead,
        on_error="open",
        backend_timeout=0.2,
        limits=[{"scope": "ip", "requests_per_minute": 5}],
    )
    exchange = call()
    assert await layer.on_request(exchange) is None
    assert layer.open_admits == 1
    assert exchange.response_headers == []
    await layer.on_complete(exchange, DONE)  # nothing reserved: nothing to settle


async def test_stream_usage_is_requested_from_openai_streams(make: Make) -> None:
    layer = await make(stream_usage=True, limits=[{"scope": "ip", "tokens_per_minute": 10_000}])
    exchange = call(stream=True, body={"stream_options": {"foo": 1}})
    assert await layer.on_request(exchange) is None
    assert exchange.request is not None
    assert exchange.request.body["stream_options"] == {"foo": 1, "include_usage": True}
    assert exchange.request.dirty
    plain = call(stream=False)
    assert await layer.on_request(plain) is None
    assert plain.request is not None and not plain.request.dirty


async def test_exact_prompt_tokens_for_openai_models(make: Make) -> None:
    layer = await make(tokenizer="exact", limits=[{"scope": "ip", "input_tokens_per_minute": 1000}])
    exchange = call(model="gpt-4o", text="hello world")
    assert await layer.on_request(exchange) is None
    # "hello world" is two o200k tokens, plus 3 for the message and 3 for the reply priming
    assert dict(exchange.response_headers)["x-ratelimit-remaining-tokens"] == str(1000 - 8)


async def test_cidr_rule_shares_one_counter_for_the_range(make: Make) -> None:
    layer = await make(
        limits=[{"scope": "cidr", "match": "192.168.0.0/16", "requests_per_minute": 2}]
    )
    assert await layer.on_request(call(ip="192.168.1.1")) is None
    assert await layer.on_request(call(ip="192.168.9.9")) is None
    assert await layer.on_request(call(ip="192.168.5.5")) is not None
    assert await layer.on_request(call(ip="10.0.0.1")) is None  # outside the range


def test_config_is_strict() -> None:
    with pytest.raises(ValueError, match="cidr"):
        RatelimitConfig(limits=[{"scope": "cidr", "requests_per_minute": 1}])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        RatelimitConfig(limits=[{"scope": "ip", "requests_per_fortnight": 1}])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        RatelimitConfig(limits=[{"scope": "key", "requests_per_minute": -1}])  # type: ignore[list-item]
