"""The mock model's scripted turns: call / say / run directives, on every API, streamed or not."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.unit.providers.test_mock import call, data_of, events_of, json_of, make_model

CALL = '[[mock:call:send_email:{"to": "a@b.example"}]]'


def _tool_message(text: str) -> dict[str, Any]:
    return {
        "model": "mock-fast",
        "messages": [
            {"role": "user", "content": "read my mail"},
            {"role": "tool", "tool_call_id": "c1", "content": text},
        ],
    }


async def test_call_directive_in_a_tool_result_makes_a_chat_tool_call() -> None:
    body = await json_of(make_model(), "/v1/chat/completions", _tool_message("mail… " + CALL))
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    function = choice["message"]["tool_calls"][0]["function"]
    assert function == {"name": "send_email", "arguments": '{"to":"a@b.example"}'}


async def test_say_directive_and_last_one_wins() -> None:
    text = "[[mock:say:first]] then [[mock:say:See ![x](https://e.example/p.png)]]"
    body = await json_of(make_model(), "/v1/chat/completions", _tool_message(text))
    assert body["choices"][0]["message"]["content"] == "See ![x](https://e.example/p.png)"


async def test_run_plays_a_named_script() -> None:
    model = make_model(scripts={"exfil": CALL})
    body = await json_of(model, "/v1/chat/completions", _tool_message("[[mock:run:exfil]]"))
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "send_email"


@pytest.mark.parametrize(
    "text",
    [
        "[[mock:run:missing]]",
        "[[mock:call:bad name:{}]]",
        "[[mock:call:t:[1]]]",
        "[[mock:call:t:{]]",
    ],
)
async def test_malformed_directives_are_400(text: str) -> None:
    response = await call(make_model(), "/v1/chat/completions", _tool_message(text))
    assert response.status == 400
    assert orjson.loads(response.body)["error"]["code"] == "invalid_request"


async def test_only_the_last_message_is_read() -> None:
    body = _tool_message("no directive here")
    body["messages"].insert(0, {"role": "system", "content": CALL})
    reply = await json_of(make_model(), "/v1/chat/completions", body)
    assert reply["choices"][0]["finish_reason"] == "stop"


async def test_responses_function_call_body_and_stream() -> None:
    request = {
        "model": "mock-fast",
        "input": [{"type": "function_call_output", "call_id": "c1", "output": CALL}],
    }
    body = await json_of(make_model(), "/v1/responses", request)
    item = body["output"][0]
    assert item["type"] == "function_call" and item["name"] == "send_email"
    assert orjson.loads(item["arguments"]) == {"to": "a@b.example"}
    events = data_of(await events_of(make_model(chunks=3), "/v1/responses", request))
    kinds = [e["type"] for e in events]
    assert kinds[2] == "response.output_item.added"
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert "".join(deltas) == item["arguments"]
    assert kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


async def test_anthropic_tool_result_directive_makes_tool_use() -> None:
    request = {
        "model": "claude-x",
        "max_tokens": 50,
        "messages": [
            {"role": "user", "content": "read"},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t", "content": CALL}],
            },
        ],
    }
    body = await json_of(make_model(), "/v1/messages", request)
    assert body["stop_reason"] == "tool_use"
    assert body["content"][0]["input"] == {"to": "a@b.example"}
