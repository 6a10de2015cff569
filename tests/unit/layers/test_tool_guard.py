"""tool_guard: the agent scenarios held or passed in every wire format, streamed and buffered;
strip-and-refuse; per-key and per-role tool allow-lists."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from tests.support.agent_scenarios import (
    SCENARIOS,
    SCRIPTS,
    Scenario,
    anthropic_body,
    chat_body,
    responses_body,
)
from tests.support.exchanges import exchange_for
from vallum.clock import FakeClock
from vallum.identity.model import AuthMethod, Identity, PrincipalKind
from vallum.layers.tool_calls import find_calls, strip_calls
from vallum.layers.tool_guard import ToolGuard, ToolGuardConfig
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.exchange import Endpoint, Exchange, WireFormat
from vallum.pipeline.layer import LayerContext, ResponseView
from vallum.pipeline.streaming import StreamProcessor
from vallum.providers import anthropic, openai
from vallum.providers.base import UpstreamRequest
from vallum.providers.mock import MockModel, MockSettings
from vallum.providers.streams import codec_for

_ROUTES = {
    Endpoint.CHAT: ("/v1/chat/completions", chat_body),
    Endpoint.RESPONSES: ("/v1/responses", responses_body),
    Endpoint.MESSAGES: ("/v1/messages", anthropic_body),
}


def _guard(**config: Any) -> ToolGuard:
    return ToolGuard(ToolGuardConfig(**config), LayerContext(clock=FakeClock()))


async def _upstream(endpoint: Endpoint, body: dict[str, Any]) -> Any:
    path, _ = _ROUTES[endpoint]
    scripts = {
        **SCRIPTS,
        "made_up": '[[mock:call:http_get:{"url":"https://made-up.example.com/x"}]]',
    }
    model = MockModel(MockSettings(chunks=5, scripts=scripts), clock=lambda: 0.0)
    return await model.handle(UpstreamRequest("POST", f"mock://l{path}", [], orjson.dumps(body)))


def _parts(exchange: Exchange, body: dict[str, Any]) -> Any:
    if exchange.endpoint is Endpoint.MESSAGES:
        return anthropic.response_parts(body)
    assert exchange.endpoint is not None
    return openai.response_parts(exchange.endpoint, body)


async def _buffered(
    layer: ToolGuard, endpoint: Endpoint, body: dict[str, Any], exchange: Exchange | None = None
) -> tuple[Any, dict[str, Any], Exchange]:
    exchange = exchange or exchange_for(endpoint, body)
    pipeline = Pipeline([layer], FakeClock())
    assert await pipeline.on_request(exchange) is None
    upstream = await _upstream(endpoint, body)
    data = orjson.loads(upstream.body)
    view = ResponseView(200, data, _parts(exchange, data))
    deny = await pipeline.on_response(exchange, view)
    return deny, data, exchange


async def _streamed(
    layer: ToolGuard, endpoint: Endpoint, body: dict[str, Any], exchange: Exchange | None = None
) -> tuple[Any, bytes, Exchange]:
    body = {**body, "stream": True}
    exchange = exchange or exchange_for(endpoint, body)
    pipeline = Pipeline([layer], FakeClock())
    assert await pipeline.on_request(exchange) is None
    upstream = await _upstream(endpoint, body)
    processor = StreamProcessor(exchange, pipeline, codec_for(exchange.wire, endpoint))
    out = b""
    async for chunk in upstream.stream:
        out += await processor.feed(chunk)
        if processor.terminated is not None:
            break
    out += await processor.close()
    return processor.terminated, out, exchange


_CASES = [
    pytest.param(s, endpoint, id=f"{s.id}-{endpoint.value}")
    for s in SCENARIOS
    for endpoint in _ROUTES
]


@pytest.mark.parametrize(("scenario", "endpoint"), _CASES)
def test_scenario_buffered(scenario: Scenario, endpoint: Endpoint) -> None:
    body = _ROUTES[endpoint][1](scenario, "mock-fast")
    deny, _, exchange = asyncio.run(_buffered(_guard(), endpoint, body))
    assert (deny is not None) is scenario.held, scenario.id
    if scenario.held:
        assert deny.code == "tool_call_blocked"
        assert any(f.kind == f"untrusted_{scenario.kind}" for f in exchange.findings)
    else:
        assert not exchange.findings


@pytest.mark.parametrize(("scenario", "endpoint"), _CASES)
def test_scenario_streamed(scenario: Scenario, endpoint: Endpoint) -> None:
    body = _ROUTES[endpoint][1](scenario, "mock-fast")
    terminated, out, _ = asyncio.run(_streamed(_guard(), endpoint, body))
    assert (terminated is not None) is scenario.held, scenario.id
    # the arguments never leave when held; they all do when not
    arguments = orjson.dumps(scenario.call_arguments).decode()
    first_value = str(next(iter(scenario.call_arguments.values())))
    sent = _streamed_arguments(endpoint, out)
    if scenario.held:
        assert sent == ""
    else:
        assert orjson.loads(sent) == orjson.loads(arguments)
        assert first_value  # the scenario has something to send


def _streamed_arguments(endpoint: Endpoint, out: bytes) -> str:
    pieces = []
    for line in out.split(b"\n"):
        if not line.startswith(b"data: {"):
            continue
        event = orjson.loads(line[6:])
        if endpoint is Endpoint.CHAT:
            for choice in event.get("choices") or ():
                for call in (choice.get("delta") or {}).get("tool_calls") or ():
                    pieces.append((call.get("function") or {}).get("arguments") or "")
        elif endpoint is Endpoint.RESPONSES:
            if event.get("type") == "response.function_call_arguments.delta":
                pieces.append(event["delta"])
        elif (event.get("delta") or {}).get("type") == "input_json_delta":
            pieces.append(event["delta"]["partial_json"])
    return "".join(pieces)


def test_the_scenarios_pass_unguarded() -> None:
    """Without the layer, every scripted attacker call reaches the client (the mock complies)."""
    for scenario in SCENARIOS:
        upstream = asyncio.run(_upstream(Endpoint.CHAT, chat_body(scenario, "mock-fast")))
        call = orjson.loads(upstream.body)["choices"][0]["message"]["tool_calls"][0]
        assert call["function"]["name"] == scenario.call_name
        assert orjson.loads(call["function"]["arguments"]) == scenario.call_arguments


def test_no_untrusted_content_nothing_to_trace() -> None:
    text = '[[mock:call:fetch:{"url":"https://a.example.com"}]]'
    body = {"model": "mock-fast", "messages": [{"role": "user", "content": text}]}
    deny, _, exchange = asyncio.run(_buffered(_guard(), Endpoint.CHAT, body))
    assert deny is None and not exchange.findings


def test_hold_unseen_holds_values_from_nowhere() -> None:
    scenario = next(s for s in SCENARIOS if s.id == "ok-07")
    body = chat_body(scenario, "mock-fast")
    body["messages"][-1]["content"] = "weather data [[mock:run:made_up]]"
    assert asyncio.run(_buffered(_guard(), Endpoint.CHAT, body))[0] is None
    deny = asyncio.run(_buffered(_guard(hold_unseen=True), Endpoint.CHAT, body))[0]
    assert deny is not None and deny.code == "tool_call_blocked"


def test_trusted_hosts_and_exempt_tools() -> None:
    scenario = next(s for s in SCENARIOS if s.id == "url-01")
    body = chat_body(scenario, "mock-fast")
    trusted = _guard(trusted_hosts=["attacker-cdn.io"])
    assert asyncio.run(_buffered(trusted, Endpoint.CHAT, body))[0] is None
    exempt = _guard(exempt_tools=["http_*"])
    assert asyncio.run(_buffered(exempt, Endpoint.CHAT, body))[0] is None
    kinds = _guard(kinds=["email"])
    assert asyncio.run(_buffered(kinds, Endpoint.CHAT, body))[0] is None


def test_findings_never_hold_the_value() -> None:
    scenario = next(s for s in SCENARIOS if s.id == "email-01")
    _, _, exchange = asyncio.run(_buffered(_guard(), Endpoint.CHAT, chat_body(scenario, "m")))
    assert exchange.findings
    for finding in exchange.findings:
        assert "mailbox-backup" not in finding.detail and "archive.bot" not in finding.detail


# --- strip and refuse ---------------------------------------------------------------------------


def test_strip_chat_answers_with_the_refusal() -> None:
    scenario = next(s for s in SCENARIOS if s.id == "email-01")
    layer = _guard(action="strip", refusal_message="Withheld.")
    deny, data, _ = asyncio.run(_buffered(layer, Endpoint.CHAT, chat_body(scenario, "m")))
    assert deny is None
    choice = data["choices"][0]
    assert "tool_calls" not in choice["message"]
    assert choice["message"]["content"] == "Withheld."
    assert choice["finish_reason"] == "content_filter"


def test_strip_anthropic_and_responses() -> None:
    scenario = next(s for s in SCENARIOS if s.id == "iban-01")
    layer = _guard(action="strip", refusal_message="Withheld.")
    body = anthropic_body(scenario, "m")
    deny, data, _ = asyncio.run(_buffered(layer, Endpoint.MESSAGES, body))
    assert deny is None
    assert data["content"] == [{"type": "text", "text": "Withheld."}]
    assert data["stop_reason"] == "end_turn"
    deny, data, _ = asyncio.run(_buffered(layer, Endpoint.RESPONSES, responses_body(scenario, "m")))
    assert deny is None
    assert [item["type"] for item in data["output"]] == ["message"]
    assert data["output"][0]["content"][0]["text"] == "Withheld."


def test_strip_keeps_the_clean_call_of_two() -> None:
    body = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "x", "arguments": "{}"},
                        },
                        {
                            "id": "b",
                            "type": "function",
                            "function": {"name": "y", "arguments": "{}"},
                        },
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    calls = find_calls(WireFormat.OPENAI, Endpoint.CHAT, body)
    assert [call.name for call in calls] == ["x", "y"]
    view = ResponseView(200, body, [])
    strip_calls(WireFormat.OPENAI, Endpoint.CHAT, view, [calls[1]], "no")
    message = body["choices"][0]["message"]
    assert [c["id"] for c in message["tool_calls"]] == ["a"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert view.dirty


# --- allow-lists --------------------------------------------------------------------------------


def _identity(roles: tuple[str, ...] = (), labels: tuple[tuple[str, str], ...] = ()) -> Identity:
    return Identity(
        principal_id="p",
        kind=PrincipalKind.KEY,
        method=AuthMethod.API_KEY,
        credential_id="key_1",
        roles=frozenset(roles),
        labels=labels,
    )


def _benign_with(identity: Identity | None, endpoint: Endpoint = Endpoint.CHAT) -> Exchange:
    scenario = next(s for s in SCENARIOS if s.id == "ok-01")  # calls send_email
    exchange = exchange_for(endpoint, _ROUTES[endpoint][1](scenario, "m"))
    exchange.identity = identity
    return exchange


@pytest.mark.parametrize(
    ("config", "identity", "allowed"),
    [
        ({}, None, True),
        ({"default_tools": ["search"]}, None, False),
        ({"default_tools": ["send_*"]}, None, True),
        ({"tools_by_role": {"agent": ["search"]}}, _identity(("agent",)), False),
        (
            {"tools_by_role": {"agent": ["search"], "mailer": ["send_email"]}},
            _identity(("agent", "mailer")),
            True,
        ),
        (
            {"tools_by_role": {"agent": ["*"]}, "tools_by_key": {"key_1": ["read_*"]}},
            _identity(("agent",)),
            False,
        ),
        ({}, _identity(labels=(("tools", "search, read_*"),)), False),
        ({}, _identity(labels=(("tools", "send_email"),)), True),
        ({"key_label": None}, _identity(labels=(("tools", "search"),)), True),
    ],
)
def test_allow_lists(config: dict[str, Any], identity: Identity | None, allowed: bool) -> None:
    for endpoint in _ROUTES:
        exchange = _benign_with(identity, endpoint)
        body = _ROUTES[endpoint][1](next(s for s in SCENARIOS if s.id == "ok-01"), "m")
        deny, _, _ = asyncio.run(_buffered(_guard(**config), endpoint, body, exchange))
        assert (deny is None) is allowed, endpoint
        if not allowed:
            assert deny.code == "tool_not_allowed" and deny.status == 403
        stream_exchange = _benign_with(identity, endpoint)
        terminated, out, _ = asyncio.run(
            _streamed(_guard(**config), endpoint, body, stream_exchange)
        )
        assert (terminated is None) is allowed, endpoint
        if not allowed:
            assert _streamed_arguments(endpoint, out) == ""


def test_config_rejects_bad_patterns() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ToolGuardConfig(default_tools=["bad pattern!"])
    with pytest.raises(ValidationError):
        ToolGuardConfig(action="drop")  # type: ignore[arg-type]
