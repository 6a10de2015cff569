"""The validate layer: strict per-endpoint fields and bounds, as tables of requests."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.exchanges import exchange_for
from vallum.clock import SystemClock
from vallum.layers.validate import Validate, ValidateConfig
from vallum.pipeline.exchange import Endpoint, Exchange
from vallum.pipeline.layer import Deny, LayerContext

USER = [{"role": "user", "content": "hello"}]


async def _run(
    body: dict[str, Any], endpoint: Endpoint = Endpoint.CHAT, **config: Any
) -> Deny | None:
    layer = Validate(ValidateConfig(**config), LayerContext(clock=SystemClock()))
    return await layer.on_request(exchange_for(endpoint, body))


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": USER, **extra}


def messages(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 16, "messages": USER, **extra}


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        (Endpoint.CHAT, chat()),
        (Endpoint.CHAT, chat(temperature=0, top_p=1, n=8, max_tokens=32768, seed=7)),
        (Endpoint.CHAT, chat(temperature=2.0, presence_penalty=-2, frequency_penalty=2)),
        (Endpoint.CHAT, chat(stop="x", logprobs=True, top_logprobs=20, stream=False)),
        (Endpoint.CHAT, chat(stop=["a", "b", "c", "d"], max_completion_tokens=1)),
        (Endpoint.CHAT, chat(temperature=None, user=None, tool_choice="auto")),
        (Endpoint.COMPLETIONS, {"model": "m", "prompt": "p", "best_of": 8, "logprobs": 5}),
        (Endpoint.EMBEDDINGS, {"model": "m", "input": "x", "dimensions": 256}),
        (Endpoint.RESPONSES, {"model": "m", "input": "x", "max_output_tokens": 5}),
        (Endpoint.MESSAGES, messages(temperature=1, top_k=5, stop_sequences=["x"])),
    ],
)
async def test_valid_requests_pass(endpoint: Endpoint, body: dict[str, Any]) -> None:
    assert await _run(body, endpoint) is None


@pytest.mark.parametrize(
    ("endpoint", "body", "code", "param"),
    [
        # bounds of each parameter
        (Endpoint.CHAT, chat(temperature=2.01), "invalid_value", "temperature"),
        (Endpoint.CHAT, chat(temperature=-0.1), "invalid_value", "temperature"),
        (Endpoint.CHAT, chat(top_p=1.5), "invalid_value", "top_p"),
        (Endpoint.CHAT, chat(presence_penalty=-2.5), "invalid_value", "presence_penalty"),
        (Endpoint.CHAT, chat(frequency_penalty=3), "invalid_value", "frequency_penalty"),
        (Endpoint.CHAT, chat(n=0), "invalid_value", "n"),
        (Endpoint.CHAT, chat(n=9), "invalid_value", "n"),
        (Endpoint.CHAT, chat(max_tokens=0), "invalid_value", "max_tokens"),
        (Endpoint.CHAT, chat(max_tokens=32769), "max_tokens_too_large", "max_tokens"),
        (
            Endpoint.CHAT,
            chat(max_completion_tokens=10**9),
            "max_tokens_too_large",
            "max_completion_tokens",
        ),
        (Endpoint.CHAT, chat(top_logprobs=21), "invalid_value", "top_logprobs"),
        (Endpoint.CHAT, chat(stop=["a", "b", "c", "d", "e"]), "invalid_value", "stop"),
        (
            Endpoint.COMPLETIONS,
            {"model": "m", "prompt": "p", "best_of": 21},
            "invalid_value",
            "best_of",
        ),
        (
            Endpoint.COMPLETIONS,
            {"model": "m", "prompt": "p", "best_of": 9},
            "invalid_value",
            "best_of",
        ),
        (
            Endpoint.COMPLETIONS,
            {"model": "m", "prompt": "p", "logprobs": 6},
            "invalid_value",
            "logprobs",
        ),
        (
            Endpoint.EMBEDDINGS,
            {"model": "m", "input": "x", "dimensions": 0},
            "invalid_value",
            "dimensions",
        ),
        (
            Endpoint.RESPONSES,
            {"model": "m", "input": "x", "max_output_tokens": 10**8},
            "max_tokens_too_large",
            "max_output_tokens",
        ),
        (Endpoint.MESSAGES, messages(temperature=1.5), "invalid_value", "temperature"),
        (Endpoint.MESSAGES, messages(top_k=-1), "invalid_value", "top_k"),
        (Endpoint.MESSAGES, messages(max_tokens=40000), "max_tokens_too_large", "max_tokens"),
        # types: a bool is not an int, a string is not a number
        (Endpoint.CHAT, chat(n=True), "invalid_value", "n"),
        (Endpoint.CHAT, chat(max_tokens=True), "invalid_value", "max_tokens"),
        (Endpoint.CHAT, chat(temperature=False), "invalid_value", "temperature"),
        (Endpoint.CHAT, chat(seed=1.5), "invalid_value", "seed"),
        (Endpoint.CHAT, chat(max_tokens=10.0), "invalid_value", "max_tokens"),
        (Endpoint.CHAT, chat(temperature="0.5"), "invalid_value", "temperature"),
        (Endpoint.CHAT, chat(logprobs=1), "invalid_value", "logprobs"),
        (Endpoint.CHAT, chat(stop=5), "invalid_value", "stop"),
        (Endpoint.CHAT, chat(logit_bias=[1]), "invalid_value", "logit_bias"),
        (Endpoint.CHAT, chat(user=7), "invalid_value", "user"),
        (Endpoint.MESSAGES, messages(stop_sequences="x"), "invalid_value", "stop_sequences"),
        # unknown fields, per endpoint
        (Endpoint.CHAT, chat(bogus=1), "unknown_parameter", "bogus"),
        (Endpoint.CHAT, chat(prompt="x"), "unknown_parameter", "prompt"),
        (Endpoint.CHAT, chat(top_k=3), "unknown_parameter", "top_k"),
        (
            Endpoint.EMBEDDINGS,
            {"model": "m", "input": "x", "temperature": 1},
            "unknown_parameter",
            "temperature",
        ),
        (Endpoint.MESSAGES, messages(n=2), "unknown_parameter", "n"),
        (Endpoint.MESSAGES, messages(logprobs=True), "unknown_parameter", "logprobs"),
        (
            Endpoint.RESPONSES,
            {"model": "m", "input": "x", "messages": USER},
            "unknown_parameter",
            "messages",
        ),
    ],
)
async def test_invalid_requests_are_denied(
    endpoint: Endpoint, body: dict[str, Any], code: str, param: str
) -> None:
    deny = await _run(body, endpoint)
    assert deny is not None
    assert (deny.status, deny.code, deny.param) == (400, code, param)
    assert deny.error_type == "invalid_request_error"


async def test_messages_without_stop_sequences_limit_uses_stop_param() -> None:
    deny = await _run(messages(stop_sequences=["a"] * 5), Endpoint.MESSAGES)
    assert deny is not None
    assert deny.code == "invalid_value"


async def test_unknown_fields_allowed_when_configured() -> None:
    assert await _run(chat(bogus=1), reject_unknown_fields=False) is None
    assert await _run(chat(x_trace="a"), allow_fields=["x_trace"]) is None
    deny = await _run(chat(x_trace="a", other=1), allow_fields=["x_trace"])
    assert deny is not None and deny.param == "other"


async def test_require_max_tokens() -> None:
    deny = await _run(chat(), require_max_tokens=True)
    assert deny is not None
    assert (deny.code, deny.param) == ("missing_required_parameter", "max_tokens")
    assert await _run(chat(max_tokens=5), require_max_tokens=True) is None
    assert await _run(chat(max_completion_tokens=5), require_max_tokens=True) is None
    body = {"model": "m", "input": "x"}
    assert await _run(body, Endpoint.RESPONSES, require_max_tokens=True) is not None
    assert await _run(body, Endpoint.EMBEDDINGS, require_max_tokens=True) is None


async def test_logprobs_policy() -> None:
    for body in (chat(logprobs=True), chat(top_logprobs=3), chat(logprobs=True, top_logprobs=0)):
        deny = await _run(body, allow_logprobs=False)
        assert deny is not None
        assert deny.code == "logprobs_not_allowed"
    completion = {"model": "m", "prompt": "p", "logprobs": 2}
    assert await _run(completion, Endpoint.COMPLETIONS, allow_logprobs=False) is not None
    assert await _run(chat(logprobs=False), allow_logprobs=False) is None
    assert await _run(chat(logprobs=True), allow_logprobs=True) is None


async def test_configured_bounds() -> None:
    assert await _run(chat(n=3), max_n=2) is not None
    assert await _run(chat(n=2), max_n=2) is None
    assert await _run(chat(max_tokens=101), max_output_tokens=100) is not None
    assert await _run(chat(stop=["a", "b"]), max_stop=1) is not None
    tools = [{"type": "function", "function": {"name": f"f{i}"}} for i in range(3)]
    deny = await _run(chat(tools=tools), max_tools=2)
    assert deny is not None and deny.code == "too_many_tools"
    many = [{"role": "user", "content": "x"}] * 3
    deny = await _run({"model": "m", "messages": many}, max_messages=2)
    assert deny is not None and deny.code == "too_many_messages"
    deny = await _run(chat(messages=[{"role": "user", "content": "x" * 11}]), max_text_chars=10)
    assert deny is not None and deny.code == "context_too_large"


async def test_text_is_counted_across_all_parts() -> None:
    body = chat(
        messages=[
            {"role": "system", "content": "x" * 6},
            {"role": "user", "content": [{"type": "text", "text": "y" * 6}]},
        ]
    )
    assert await _run(body, max_text_chars=12) is None
    assert await _run(body, max_text_chars=11) is not None


async def test_models_listing_is_not_checked() -> None:
    exchange = Exchange(
        request_id="r",
        method="GET",
        path="/v1/models",
        client_ip="127.0.0.1",
        headers={},
        started=0.0,
        endpoint=Endpoint.MODELS,
    )
    layer = Validate(ValidateConfig(), LayerContext(clock=SystemClock()))
    assert await layer.on_request(exchange) is None


@pytest.mark.parametrize(
    "config",
    [
        {"max_n": 0},
        {"max_n": 129},
        {"max_output_tokens": 0},
        {"max_stop": -1},
        {"allow_fields": ["f"] * 65},
        {"on_error": "sometimes"},
        {"unknown": True},
        {"type": "other"},
    ],
)
def test_config_is_strict(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ValidateConfig(**config)


def test_layer_declarations() -> None:
    assert Validate.name == "validate"
    assert Validate.Config is ValidateConfig
    assert ValidateConfig().type == "validate"
    assert ValidateConfig().on_error == "closed"
