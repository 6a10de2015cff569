"""The official openai SDK against the gateway, for every OpenAI route (JSON and streaming)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.support.servers import ServerThread


@pytest.fixture
def client(gateway: ServerThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_chat_completion_round_trip(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gpt-echo", messages=[{"role": "user", "content": "ping from the SDK"}]
    )
    assert reply.choices[0].message.content == "ping from the SDK"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens > 0


def test_chat_stream_matches_unstreamed_text(client: openai.OpenAI) -> None:
    text = "one two three four five six seven eight nine ten"
    stream = client.chat.completions.create(
        model="gpt-echo",
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == text
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == len(text.split())


def test_multimodal_parts_and_system_prompt(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gpt-echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "text", "text": "this"},
                ],
            },
        ],
    )
    assert reply.choices[0].message.content == "describe\nthis"


def test_tool_calls_stream_and_not(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    messages = [{"role": "user", "content": "please call tool now"}]
    reply = client.chat.completions.create(model="gpt-echo", messages=messages, tools=tools)  # type: ignore[arg-type]
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"query": "please call tool now"}  # type: ignore[union-attr]
    arguments = ""
    for chunk in client.chat.completions.create(
        model="gpt-echo",
        messages=messages,
        tools=tools,
        stream=True,  # type: ignore[arg-type]
    ):
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                arguments += delta.function.arguments or ""  # type: ignore[union-attr]
    assert json.loads(arguments) == {"query": "please call tool now"}


def test_tool_result_round_trip(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gpt-echo",
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny, 21C"},
        ],
    )
    assert reply.choices[0].message.content == "sunny, 21C"


def test_legacy_completions(client: openai.OpenAI) -> None:
    reply = client.completions.create(model="mock-echo", prompt="complete me")
    assert reply.choices[0].text == "complete me"
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="mock-echo", prompt="complete me", stream=True)
        if c.choices
    )
    assert streamed == "complete me"


def test_embeddings(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="mock-embed", input=["a", "b"])
    assert [item.index for item in result.data] == [0, 1]
    assert len(result.data[0].embedding) > 0


def test_responses_api(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-echo", input="respond to this")
    assert response.output_text == "respond to this"
    deltas = []
    with client.responses.stream(model="gpt-echo", input="respond to this") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == "respond to this"
    assert final.output_text == "respond to this"


def test_models_list(client: openai.OpenAI) -> None:
    names = {model.id for model in client.models.list()}
    assert {"gpt-echo", "claude-echo", "inproc-echo"} <= names


def test_in_process_mock_provider(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="inproc-echo", messages=[{"role": "user", "content": "no socket needed"}]
    )
    assert reply.choices[0].message.content == "no socket needed"
