"""The mock model: every endpoint, streamed and not, and the official SDKs on a loopback socket."""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anthropic
import openai
import orjson
import pytest
import uvicorn

from vallum.providers.base import UpstreamRequest, UpstreamResponse
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app

NOW = 1_700_000_000.75
REPLY = MockSettings().reply
TOOLS_OPENAI = [{"type": "function", "function": {"name": "search", "parameters": {}}}]
TOOLS_ANTHROPIC = [{"name": "search", "input_schema": {"type": "object"}}]


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_model(**settings: Any) -> MockModel:
    return MockModel(MockSettings(**settings), sleep=SleepRecorder(), clock=lambda: NOW)


async def call(
    model: MockModel,
    path: str,
    body: object = None,
    *,
    method: str = "POST",
    raw: bytes | None = None,
) -> UpstreamResponse:
    payload = raw if raw is not None else (b"" if body is None else orjson.dumps(body))
    return await model.handle(UpstreamRequest(method, f"mock://local{path}", [], payload))


async def json_of(model: MockModel, path: str, body: object) -> Any:
    response = await call(model, path, body)
    assert response.status == 200, response.body
    assert response.header("content-type") == "application/json"
    assert response.stream is None
    parsed = orjson.loads(response.body)
    assert isinstance(parsed, dict)
    return parsed


async def events_of(model: MockModel, path: str, body: Mapping[str, object]) -> list[bytes]:
    response = await call(model, path, {**body, "stream": True})
    assert response.status == 200
    assert response.header("content-type") == "text/event-stream"
    assert response.stream is not None
    return [event async for event in response.stream]


def data_of(events: list[bytes]) -> list[Any]:
    """The JSON payload of every SSE event but ``[DONE]``; also checks the framing."""
    payloads = []
    for event in events:
        assert event.endswith(b"\n\n") and event.count(b"\n\n") == 1
        data = event.split(b"data: ", 1)[1].rstrip(b"\n")
        if data != b"[DONE]":
            payloads.append(orjson.loads(data))
    return payloads


def chat(content: object = "hi", **extra: object) -> dict[str, object]:
    return {"model": "mock-fast", "messages": [{"role": "user", "content": content}], **extra}


# --- chat completions --------------------------------------------------------------------------


async def test_chat_body_has_openai_shape() -> None:
    body = await json_of(make_model(), "/v1/chat/completions", chat("say hello to me"))
    assert body == {
        "id": "chatcmpl-mock-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "mock-fast",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10},
        "system_fingerprint": "fp_mock",
    }


async def test_ids_come_from_the_instance_counter() -> None:
    model = make_model()
    first = await json_of(model, "/v1/chat/completions", chat())
    second = await json_of(model, "/v1/chat/completions", chat())
    assert (first["id"], second["id"]) == ("chatcmpl-mock-1", "chatcmpl-mock-2")
    assert (await json_of(make_model(), "/v1/chat/completions", chat()))["id"] == "chatcmpl-mock-1"


async def test_unknown_model_answers_like_mock_fast_under_its_own_name() -> None:
    body = await json_of(make_model(), "/v1/chat/completions", {**chat(), "model": "gpt-4o"})
    assert body["model"] == "gpt-4o"
    assert body["choices"][0]["message"]["content"] == REPLY


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"role": "user", "content": "plain"}], "plain"),
        (
            [
                {"role": "user", "content": "older"},
                {"role": "assistant", "content": "ignored"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "one"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                        {"type": "text", "text": "two"},
                    ],
                },
            ],
            "one\ntwo",
        ),
        (
            [
                {"role": "user", "content": "question"},
                {"role": "assistant", "content": None, "tool_calls": []},
                {"role": "tool", "tool_call_id": "c1", "content": "tool output"},
            ],
            "tool output",
        ),
        ([{"role": "system", "content": "only a system prompt"}], ""),
    ],
)
async def test_mock_echo_repeats_the_last_user_or_tool_text(
    messages: list[object], expected: str
) -> None:
    request = {"model": "mock-echo", "messages": messages}
    body = await json_of(make_model(), "/v1/chat/completions", request)
    assert body["choices"][0]["message"]["content"] == expected


async def test_chat_stream_matches_the_whole_body() -> None:
    model = make_model()
    whole = await json_of(model, "/v1/chat/completions", chat())
    events = await events_of(model, "/v1/chat/completions", chat())
    chunks = data_of(events)
    assert events[-1] == b"data: [DONE]\n\n"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    contents = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert len(contents) == 20
    assert "".join(contents) == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    for chunk in chunks:
        assert chunk["id"] == "chatcmpl-mock-2"
        assert chunk["object"] == "chat.completion.chunk"
        assert (chunk["created"], chunk["model"]) == (1_700_000_000, "mock-fast")
        assert chunk["system_fingerprint"] == "fp_mock"
        assert "usage" not in chunk


@pytest.mark.parametrize(("chunks", "text", "expected"), [(5, "abcdefghij", 5), (20, "abc", 3)])
async def test_stream_chunk_count_follows_the_settings(
    chunks: int, text: str, expected: int
) -> None:
    model = make_model(chunks=chunks, reply=text)
    contents = data_of(await events_of(model, "/v1/chat/completions", chat()))[1:-1]
    assert len(contents) == expected
    assert "".join(c["choices"][0]["delta"]["content"] for c in contents) == text


async def test_chat_stream_include_usage_ends_with_a_usage_chunk() -> None:
    request = chat("a b c", stream_options={"include_usage": True})
    chunks = data_of(await events_of(make_model(), "/v1/chat/completions", request))
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}


async def test_chat_n_gives_n_identical_choices() -> None:
    model = make_model(chunks=4)
    body = await json_of(model, "/v1/chat/completions", chat(n=3))
    choices = body["choices"]
    assert isinstance(choices, list)
    assert [c["index"] for c in choices] == [0, 1, 2]
    assert {c["message"]["content"] for c in choices} == {REPLY}
    assert body["usage"]["completion_tokens"] == 18
    chunks = data_of(await events_of(model, "/v1/chat/completions", chat(n=3)))
    for index in range(3):
        mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == index]
        assert "".join(c["delta"].get("content") or "" for c in mine) == REPLY
        assert mine[-1]["finish_reason"] == "stop"


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_chat_max_tokens_truncates_words(field: str) -> None:
    model = make_model()
    body = await json_of(model, "/v1/chat/completions", chat(**{field: 3}))
    choice = body["choices"][0]
    assert choice["message"]["content"] == "Hello! This is"
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3
    chunks = data_of(await events_of(model, "/v1/chat/completions", chat(**{field: 3})))
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello! This is"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


async def test_max_tokens_above_the_reply_length_changes_nothing() -> None:
    body = await json_of(make_model(), "/v1/chat/completions", chat(max_tokens=6))
    assert body["choices"][0]["finish_reason"] == "stop"


async def test_chat_tool_call_whole_and_streamed() -> None:
    model = make_model(chunks=7)
    request = chat("please call tool for me", tools=TOOLS_OPENAI)
    body = await json_of(model, "/v1/chat/completions", request)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (tool_call,) = choice["message"]["tool_calls"]
    assert tool_call["id"] == "call_mock_1"
    assert tool_call["type"] == "function"
    assert tool_call["function"]["name"] == "search"
    assert orjson.loads(tool_call["function"]["arguments"]) == {"query": "please call tool for me"}

    chunks = data_of(await events_of(model, "/v1/chat/completions", request))
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first == {
        "index": 0,
        "id": "call_mock_2",
        "type": "function",
        "function": {"name": "search", "arguments": ""},
    }
    fragments = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-1]]
    assert len(fragments) == 7
    assert all(set(f) == {"index", "function"} for f in fragments)
    assert (
        "".join(f["function"]["arguments"] for f in fragments) == tool_call["function"]["arguments"]
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_after_a_tool_result_the_mock_answers_in_text() -> None:
    messages = [
        {"role": "user", "content": "call tool"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "call_mock_1", "content": "42"},
    ]
    request = {"model": "mock-fast", "messages": messages, "tools": TOOLS_OPENAI}
    body = await json_of(make_model(), "/v1/chat/completions", request)
    assert body["choices"][0]["message"]["content"] == REPLY


async def test_tools_without_the_phrase_give_text() -> None:
    body = await json_of(make_model(), "/v1/chat/completions", chat("hello", tools=TOOLS_OPENAI))
    assert body["choices"][0]["finish_reason"] == "stop"


# --- legacy completions ------------------------------------------------------------------------


async def test_completions_echo_each_prompt_and_stream_the_same_text() -> None:
    model = make_model(chunks=3)
    request = {"model": "mock-echo", "prompt": ["first prompt", "second one here"]}
    body = await json_of(model, "/v1/completions", request)
    assert body["object"] == "text_completion"
    assert [c["text"] for c in body["choices"]] == ["first prompt", "second one here"]
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}

    stream = {**request, "stream_options": {"include_usage": True}}
    chunks = data_of(await events_of(model, "/v1/completions", stream))
    assert all(c["object"] == "text_completion" for c in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == body["usage"]
    for index, expected in enumerate(["first prompt", "second one here"]):
        mine = [c["choices"][0] for c in chunks[:-1] if c["choices"][0]["index"] == index]
        assert "".join(c["text"] for c in mine) == expected
        assert [c["finish_reason"] for c in mine][-1] == "stop"


async def test_completions_mock_fast_and_max_tokens() -> None:
    request = {"model": "mock-fast", "prompt": "anything", "max_tokens": 2, "n": 2}
    body = await json_of(make_model(), "/v1/completions", request)
    assert [(c["text"], c["finish_reason"]) for c in body["choices"]] == [
        ("Hello! This", "length")
    ] * 2


# --- embeddings --------------------------------------------------------------------------------


async def test_embeddings_are_deterministic_unit_vectors() -> None:
    model = make_model()
    request = {"model": "mock-embed", "input": ["alpha", "beta gamma", "alpha"]}
    body = await json_of(model, "/v1/embeddings", request)
    assert body["object"] == "list" and body["model"] == "mock-embed"
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    data = body["data"]
    assert isinstance(data, list)
    vectors = [item["embedding"] for item in data]
    assert [item["index"] for item in data] == [0, 1, 2]
    assert all(item["object"] == "embedding" for item in data)
    assert all(len(v) == 8 for v in vectors)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    again = await json_of(make_model(), "/v1/embeddings", {"model": "x", "input": "alpha"})
    assert again["data"][0]["embedding"] == vectors[0]


async def test_embeddings_dimensions_tokens_and_base64() -> None:
    model = make_model()
    request = {"model": "mock-embed", "input": [[1, 2, 3], [4]], "dimensions": 20}
    floats = await json_of(model, "/v1/embeddings", request)
    assert floats["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    vector = floats["data"][0]["embedding"]
    assert len(vector) == 20
    packed = await json_of(model, "/v1/embeddings", {**request, "encoding_format": "base64"})
    decoded = struct.unpack("<20f", base64.b64decode(packed["data"][0]["embedding"]))
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(decoded, vector, strict=True))
    single = await json_of(
        model, "/v1/embeddings", {"model": "m", "input": [1, 2, 3], "dimensions": 20}
    )
    assert single["data"][0]["embedding"] == vector


@pytest.mark.parametrize("bad", [[], 3, [None], {"dimensions": 0}, {"dimensions": 5000}])
async def test_embeddings_reject_bad_input(bad: object) -> None:
    request = (
        {"model": "m", "input": "x", **bad}
        if isinstance(bad, dict)
        else {"model": "m", "input": bad}
    )
    response = await call(make_model(), "/v1/embeddings", request)
    assert response.status == 400
    assert orjson.loads(response.body)["error"]["type"] == "invalid_request_error"


# --- Responses API -----------------------------------------------------------------------------


def output_text(body: Any) -> str:
    return "".join(
        part["text"]
        for item in body["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


@pytest.mark.parametrize(
    ("request_input", "expected"),
    [
        ("a plain string", "a plain string"),
        ([{"role": "user", "content": "easy message"}], "easy message"),
        (
            [
                {"role": "user", "content": "old"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "new"}],
                },
            ],
            "new",
        ),
    ],
)
async def test_responses_echo(request_input: object, expected: str) -> None:
    body = await json_of(
        make_model(), "/v1/responses", {"model": "mock-echo", "input": request_input}
    )
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["id"] == "resp_mock_1"
    assert body["created_at"] == 1_700_000_000
    assert output_text(body) == expected
    assert body["usage"]["output_tokens"] == len(expected.split())


async def test_responses_stream_events_in_order_and_complete() -> None:
    model = make_model(chunks=6)
    request = {"model": "mock-fast", "input": "hi", "instructions": "be brief"}
    whole = await json_of(model, "/v1/responses", request)
    events = await events_of(model, "/v1/responses", request)
    payloads = data_of(events)
    names = [e.split(b"\n", 1)[0].removeprefix(b"event: ").decode() for e in events]
    assert names == [p["type"] for p in payloads]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert names[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert names[4:10] == ["response.output_text.delta"] * 6
    assert names[10:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert "".join(p["delta"] for p in payloads[4:10]) == output_text(whole)
    assert payloads[10]["text"] == output_text(whole)
    final = payloads[-1]["response"]
    assert isinstance(final, dict)
    assert output_text(final) == output_text(whole)
    assert final["usage"] == whole["usage"]
    assert final["instructions"] == "be brief"


async def test_responses_max_output_tokens_is_incomplete() -> None:
    model = make_model()
    request = {"model": "mock-fast", "input": "hi", "max_output_tokens": 2}
    body = await json_of(model, "/v1/responses", request)
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert output_text(body) == "Hello! This"
    payloads = data_of(await events_of(model, "/v1/responses", request))
    assert payloads[-1]["type"] == "response.incomplete"


# --- Anthropic Messages API --------------------------------------------------------------------


def anthropic_request(content: object = "hi", **extra: object) -> dict[str, object]:
    return {
        "model": "mock-fast",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


async def test_messages_body_has_anthropic_shape() -> None:
    request = anthropic_request("one two", system=[{"type": "text", "text": "sys prompt"}])
    body = await json_of(make_model(), "/v1/messages", request)
    assert body == {
        "id": "msg_mock_1",
        "type": "message",
        "role": "assistant",
        "model": "mock-fast",
        "content": [{"type": "text", "text": REPLY}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 4, "output_tokens": 6},
    }


async def test_messages_echo_reads_tool_results() -> None:
    blocks = [
        {
            "type": "tool_result",
            "tool_use_id": "t1",
            "content": [{"type": "text", "text": "result A"}],
        },
        {"type": "tool_result", "tool_use_id": "t2", "content": "result B"},
    ]
    body = await json_of(
        make_model(), "/v1/messages", {**anthropic_request(blocks), "model": "mock-echo"}
    )
    assert body["content"] == [{"type": "text", "text": "result A\nresult B"}]


async def test_messages_stream_matches_the_whole_body() -> None:
    model = make_model(chunks=5)
    whole = await json_of(model, "/v1/messages", anthropic_request())
    events = await events_of(model, "/v1/messages", anthropic_request())
    payloads = data_of(events)
    names = [p["type"] for p in payloads]
    assert names == ["message_start", "content_block_start", "ping"] + [
        "content_block_delta"
    ] * 5 + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(e.startswith(f"event: {n}\n".encode()) for e, n in zip(events, names, strict=True))
    text = "".join(p["delta"]["text"] for p in payloads[3:8])
    assert text == whole["content"][0]["text"]
    assert payloads[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert payloads[-2]["usage"] == {"output_tokens": 6}


async def test_messages_max_tokens_and_tool_use() -> None:
    model = make_model(chunks=4)
    short = await json_of(model, "/v1/messages", anthropic_request(max_tokens=1))
    assert short["stop_reason"] == "max_tokens"
    assert short["content"] == [{"type": "text", "text": "Hello!"}]

    request = anthropic_request(
        [{"type": "text", "text": "call tool please"}], tools=TOOLS_ANTHROPIC
    )
    body = await json_of(model, "/v1/messages", request)
    assert body["stop_reason"] == "tool_use"
    assert body["content"] == [
        {
            "type": "tool_use",
            "id": "toolu_mock_2",
            "name": "search",
            "input": {"query": "call tool please"},
        }
    ]
    payloads = data_of(await events_of(model, "/v1/messages", request))
    assert payloads[1]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_mock_3",
        "name": "search",
        "input": {},
    }
    fragments = [p["delta"]["partial_json"] for p in payloads if p["type"] == "content_block_delta"]
    assert len(fragments) == 4
    assert orjson.loads("".join(fragments)) == {"query": "call tool please"}
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"


# --- models, errors, hooks, pacing -------------------------------------------------------------


async def test_models_lists_the_three_models() -> None:
    response = await call(make_model(), "/v1/models", method="GET")
    body = orjson.loads(response.body)
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["mock-fast", "mock-echo", "mock-embed"]
    assert (await call(make_model(), "/v1/models", {})).status == 405


@pytest.mark.parametrize(
    ("path", "method", "raw", "status", "code"),
    [
        ("/v1/unknown", "POST", b"{}", 404, "not_found"),
        ("/v1/chat/completions", "POST", b"{not json", 400, "invalid_json"),
        ("/v1/chat/completions", "POST", b"[1]", 400, "invalid_json"),
        ("/v1/chat/completions", "POST", b'{"messages": []}', 400, "missing_model"),
        ("/v1/chat/completions", "GET", b"", 405, "method_not_allowed"),
        (
            "/v1/chat/completions",
            "POST",
            b'{"model": "m", "messages": "x"}',
            400,
            "invalid_request",
        ),
    ],
)
async def test_openai_errors(path: str, method: str, raw: bytes, status: int, code: str) -> None:
    response = await call(make_model(), path, method=method, raw=raw)
    assert response.status == status
    error = orjson.loads(response.body)["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert (error["type"], error["code"]) == ("invalid_request_error", code)


@pytest.mark.parametrize(
    ("model_name", "status", "openai_type", "anthropic_type"),
    [
        ("mock-error-500", 500, "server_error", "api_error"),
        ("mock-error-429", 429, "requests", "rate_limit_error"),
    ],
)
async def test_error_hooks(
    model_name: str, status: int, openai_type: str, anthropic_type: str
) -> None:
    model = make_model()
    response = await call(model, "/v1/chat/completions", {**chat(), "model": model_name})
    assert response.status == status
    assert orjson.loads(response.body)["error"]["type"] == openai_type
    assert (response.header("retry-after") == "1") is (status == 429)
    response = await call(model, "/v1/messages", {**anthropic_request(), "model": model_name})
    assert response.status == status
    assert orjson.loads(response.body) == {
        "type": "error",
        "error": {
            "type": anthropic_type,
            "message": orjson.loads(response.body)["error"]["message"],
        },
    }


async def test_mock_slow_sleeps_thirty_seconds_through_the_injected_sleep() -> None:
    sleep = SleepRecorder()
    model = MockModel(sleep=sleep)
    response = await call(model, "/v1/chat/completions", {**chat(), "model": "mock-slow"})
    assert response.status == 200
    assert sleep.calls == [30.0]


async def test_latency_and_chunk_gap_use_the_injected_sleep() -> None:
    sleep = SleepRecorder()
    model = MockModel(MockSettings(chunks=3, latency=0.5, chunk_gap=0.01), sleep=sleep)
    await call(model, "/v1/messages", anthropic_request())
    assert sleep.calls == [0.5]
    events = await events_of(model, "/v1/chat/completions", chat())
    assert sleep.calls == [0.5, 0.5] + [0.01] * (len(events) - 1)


# --- the official SDKs against a real loopback server ------------------------------------------


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = mock_asgi_app(MockModel(MockSettings(chunks=5)))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn offers no start-up event to wait on
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start within 5 s"
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await task


async def test_openai_sdk_accepts_the_wire_format(port: int) -> None:
    async with openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0
    ) as client:
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [
            {"role": "user", "content": "hello there"}
        ]
        completion = await client.chat.completions.create(model="mock-echo", messages=messages)
        assert completion.choices[0].message.content == "hello there"
        assert completion.usage is not None and completion.usage.total_tokens == 4

        stream = await client.chat.completions.create(
            model="mock-fast",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6

        async with client.chat.completions.stream(
            model="mock-fast",
            messages=[{"role": "user", "content": "call tool now"}],
            tools=[{"type": "function", "function": {"name": "search", "parameters": {}}}],
        ) as tool_stream:
            final = await tool_stream.get_final_completion()
        (tool_call,) = final.choices[0].message.tool_calls or []
        assert tool_call.type == "function"
        assert tool_call.function.arguments == '{"query":"call tool now"}'

        embeddings = await client.embeddings.create(model="mock-embed", input=["a", "b"])
        assert [len(e.embedding) for e in embeddings.data] == [8, 8]
        floats = await client.embeddings.create(
            model="mock-embed", input="a", encoding_format="float"
        )
        assert all(
            math.isclose(x, y, rel_tol=1e-6)
            for x, y in zip(floats.data[0].embedding, embeddings.data[0].embedding, strict=True)
        )

        response = await client.responses.create(model="mock-echo", input="respond please")
        assert response.output_text == "respond please"
        async with client.responses.stream(model="mock-fast", input="hi") as response_stream:
            deltas = [
                e.delta async for e in response_stream if e.type == "response.output_text.delta"
            ]
            streamed = await response_stream.get_final_response()
        assert "".join(deltas) == streamed.output_text == REPLY

        models = await client.models.list()
        assert [m.id async for m in models] == ["mock-fast", "mock-echo", "mock-embed"]

        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="mock-error-429", messages=messages)


async def test_anthropic_sdk_accepts_the_wire_format(port: int) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=f"http://127.0.0.1:{port}", api_key="x", max_retries=0
    ) as client:
        messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "echo me"}]
        message = await client.messages.create(model="mock-echo", max_tokens=50, messages=messages)
        assert message.content[0].type == "text" and message.content[0].text == "echo me"
        assert message.usage.output_tokens == 2

        async with client.messages.stream(
            model="mock-fast", max_tokens=50, messages=messages
        ) as stream:
            text = await stream.get_final_text()
            final = await stream.get_final_message()
        assert text == REPLY
        assert final.stop_reason == "end_turn" and final.usage.output_tokens == 6

        async with client.messages.stream(
            model="mock-fast",
            max_tokens=50,
            messages=[{"role": "user", "content": "call tool please"}],
            tools=[{"name": "search", "input_schema": {"type": "object"}}],
        ) as tool_stream:
            tool_message = await tool_stream.get_final_message()
        block = tool_message.content[0]
        assert block.type == "tool_use" and block.input == {"query": "call tool please"}

        with pytest.raises(anthropic.InternalServerError):
            await client.messages.create(model="mock-error-500", max_tokens=5, messages=messages)
