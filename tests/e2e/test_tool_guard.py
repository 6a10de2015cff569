"""tool_guard end to end: the hand-written agent scenarios through the real gateway, driven by
the openai and anthropic SDKs, with the mock model scripted to comply with each injection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e.conftest import gateway_config
from tests.support.agent_clients import RUNNERS, held
from tests.support.agent_scenarios import SCENARIOS, SCRIPTS, Scenario, anthropic_body, chat_body
from tests.support.servers import ServerThread
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app
from vallum.proxy.app import GatewayApp


@pytest.fixture(scope="module")
def scripted() -> Iterator[ServerThread]:
    with ServerThread(mock_asgi_app(MockModel(MockSettings(chunks=9, scripts=SCRIPTS)))) as up:
        yield up


def _gateway(upstream: ServerThread, layers: list[dict[str, Any]]) -> ServerThread:
    return ServerThread(
        GatewayApp(Gateway(build_config(gateway_config(upstream.url, layers=layers))))
    )


@pytest.fixture(scope="module")
def guarded(scripted: ServerThread) -> Iterator[ServerThread]:
    # the demo's defences against indirect injection, in the demo's order
    layers = [{"type": t} for t in ("validate", "tool_guard", "link_guard", "spotlight")]
    with _gateway(scripted, layers) as server:
        yield server


@pytest.fixture(scope="module")
def unguarded(scripted: ServerThread) -> Iterator[ServerThread]:
    with _gateway(scripted, [{"type": "validate"}]) as server:
        yield server


@pytest.fixture(scope="module")
def stripping(scripted: ServerThread) -> Iterator[ServerThread]:
    layers = [{"type": "validate"}, {"type": "tool_guard", "action": "strip"}]
    with _gateway(scripted, layers) as server:
        yield server


_CASES = [
    pytest.param(s, api, stream, id=f"{s.id}-{api}-{'stream' if stream else 'json'}")
    for s in SCENARIOS
    for api in RUNNERS
    for stream in (False, True)
]


@pytest.mark.parametrize(("scenario", "api", "stream"), _CASES)
def test_guarded_gateway_holds_exactly_the_attacker_calls(
    guarded: ServerThread, scenario: Scenario, api: str, stream: bool
) -> None:
    assert held(RUNNERS[api], guarded.url, scenario, stream) is scenario.held


@pytest.mark.parametrize("api", list(RUNNERS))
def test_without_the_layer_every_scripted_call_arrives(unguarded: ServerThread, api: str) -> None:
    for scenario in SCENARIOS:
        for stream in (False, True):
            assert not held(RUNNERS[api], unguarded.url, scenario, stream), scenario.id


def test_strip_answers_with_a_refusal_in_place_of_the_call(stripping: ServerThread) -> None:
    attack = next(s for s in SCENARIOS if s.id == "email-01")
    benign = next(s for s in SCENARIOS if s.id == "ok-01")
    with openai.OpenAI(base_url=f"{stripping.url}/v1", api_key="x", max_retries=0) as client:
        body = chat_body(attack, "mock-fast")
        reply = client.chat.completions.create(
            model="mock-fast", messages=body["messages"], tools=body["tools"]
        )
        assert reply.choices[0].message.tool_calls is None
        assert reply.choices[0].finish_reason == "content_filter"
        assert "withheld" in (reply.choices[0].message.content or "")
    with anthropic.Anthropic(base_url=stripping.url, api_key="x", max_retries=0) as ac:
        body = anthropic_body(attack, "claude-agent")
        message = ac.messages.create(
            model="claude-agent",
            max_tokens=64,
            system=body["system"],
            messages=body["messages"],
            tools=body["tools"],
        )
        assert [b.type for b in message.content] == ["text"]
        body = anthropic_body(benign, "claude-agent")
        message = ac.messages.create(
            model="claude-agent",
            max_tokens=64,
            system=body["system"],
            messages=body["messages"],
            tools=body["tools"],
        )
        assert [b.type for b in message.content] == ["tool_use"]
