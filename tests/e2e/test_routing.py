"""Routing across several real upstreams on loopback, some of them broken on purpose."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from tests.support.servers import ServerThread, free_port
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app
from vallum.proxy.app import GatewayApp
from vallum.proxy.breaker import BreakerState

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
USER = [{"role": "user", "content": "route me"}]


@dataclass
class Faulty:
    """A tiny upstream that misbehaves in one chosen way and counts its requests."""

    mode: str
    calls: int = 0
    fail_first: int = 0
    healthy: Any = field(default=None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.calls += 1
        while (await receive()).get("more_body"):
            pass
        if self.mode == "flaky" and self.calls > self.fail_first:
            await self.healthy(
                scope,
                _replay(b'{"model":"mock-echo","messages":[{"role":"user","content":"ok"}]}'),
                send,
            )
            return
        if self.mode == "hang":
            await asyncio.sleep(5)
        status, headers = (429, [(b"retry-after", b"30")]) if self.mode == "limited" else (500, [])
        if self.mode == "dying":
            await self._die_mid_stream(send)
            return
        await send(
            {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), *headers]}
        )  # fmt: skip
        await send({"type": "http.response.body", "body": b'{"error":{"message":"boom"}}'})

    async def _die_mid_stream(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/event-stream")]}
        )  # fmt: skip
        event = (
            b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
            b'"choices":[{"index":0,"delta":{"content":"partial "},"finish_reason":null}]}\n\n'
        )
        await send({"type": "http.response.body", "body": event, "more_body": True})
        raise RuntimeError("upstream dies mid-stream")


def _replay(body: bytes) -> Receive:
    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


@dataclass
class Fleet:
    gateway: Gateway
    url: str
    servers: dict[str, Faulty]
    healthy_model: MockModel


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    healthy_model = MockModel(MockSettings(chunks=5))
    healthy_app = mock_asgi_app(healthy_model)
    faults = {m: Faulty(m) for m in ("500", "hang", "limited", "dying")}
    faults["flaky"] = Faulty("flaky", fail_first=3, healthy=healthy_app)
    with (
        ServerThread(healthy_app) as healthy,
        ServerThread(faults["500"]) as err,
        ServerThread(faults["hang"]) as hang,
        ServerThread(faults["limited"]) as limited,
        ServerThread(faults["dying"]) as dying,
        ServerThread(faults["flaky"]) as flaky,
    ):
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there

        def provider(name: str, url: str) -> dict[str, Any]:
            return {
                "name": name, "type": "openai", "base_url": f"{url}/v1",
                "breaker": {"failure_threshold": 1, "open_seconds": 0.3, "max_open_seconds": 1},
            }  # fmt: skip

        config = build_config(
            {
                "providers": [
                    provider("healthy", healthy.url), provider("err", err.url),
                    provider("hang", hang.url), provider("limited", limited.url),
                    provider("dying", dying.url), provider("flaky", flaky.url),
                    provider("dead", dead),
                ],
                "models": [
                    {"name": "pool", "retry": {"attempts": 5, "backoff": 0},
                     "deployments": [
                         {"provider": p, "upstream_model": "mock-echo"}
                         for p in ("dead", "err", "hang", "limited", "healthy")]},
                    {"name": "dying-model", "provider": "dying"},
                    {"name": "primary", "provider": "dead", "fallbacks": ["backup"]},
                    {"name": "backup", "provider": "healthy", "upstream_model": "mock-echo"},
                    {"name": "flaky-model", "provider": "flaky", "upstream_model": "mock-echo"},
                ],
                "timeouts": {"read": 0.5, "total": 4.0, "stream_idle": 1.0},
                "storage": {"url": "memory://", "counters_url": "memory://"},
                "layers": [{"type": "validate"}],
            }
        )  # fmt: skip
        gateway = Gateway(config)
        with ServerThread(GatewayApp(gateway)) as server:
            yield Fleet(gateway, server.url, faults, healthy_model)


@pytest.fixture
def client(fleet: Fleet) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{fleet.url}/v1", api_key="x", max_retries=0, timeout=10) as c:
        yield c


def test_sdk_sees_no_error_while_one_deployment_is_healthy(
    fleet: Fleet, client: openai.OpenAI
) -> None:
    for _ in range(12):
        reply = client.chat.completions.create(model="pool", messages=USER)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "route me"
    breakers = fleet.gateway.router.breakers
    assert breakers[("dead", "mock-echo")].state is not BreakerState.CLOSED
    assert breakers[("healthy", "mock-echo")].state is BreakerState.CLOSED
    # Each broken upstream was tried, then skipped while its breaker was open.
    assert 1 <= fleet.servers["500"].calls < 12
    assert 1 <= fleet.servers["limited"].calls < 12


def test_streams_fail_over_before_the_first_byte(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="pool", messages=USER, stream=True)  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "route me"


def test_a_stream_whose_upstream_dies_ends_with_an_error_never_a_repeat(
    fleet: Fleet, client: openai.OpenAI
) -> None:
    before = fleet.servers["dying"].calls
    seen = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(
            model="dying-model",
            messages=USER,
            stream=True,  # type: ignore[arg-type]
        ):
            seen.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(seen) == "partial "
    assert fleet.servers["dying"].calls == before + 1  # not retried once bytes were sent


def test_fallback_model_serves_when_every_deployment_is_down(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="primary", messages=USER)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "route me"


def test_breaker_opens_then_half_opens_and_closes_on_recovery(
    fleet: Fleet, client: openai.OpenAI
) -> None:
    breaker = fleet.gateway.router.breakers[("flaky", "mock-echo")]
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="flaky-model", messages=USER)  # type: ignore[arg-type]
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(openai.InternalServerError) as caught:  # skipped while open
        client.chat.completions.create(model="flaky-model", messages=USER)  # type: ignore[arg-type]
    assert caught.value.code == "no_healthy_upstream"
    deadline = time.monotonic() + 10
    while True:  # the server fails its first 3 requests, then recovers
        try:
            client.chat.completions.create(model="flaky-model", messages=USER)  # type: ignore[arg-type]
            break
        except openai.InternalServerError:
            assert time.monotonic() < deadline, "breaker never let a trial through"
            time.sleep(0.1)
    assert breaker.state is BreakerState.CLOSED
