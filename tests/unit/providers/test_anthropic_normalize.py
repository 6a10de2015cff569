"""Anthropic Messages wire format: system, blocks, tool results and documents are all found."""

from __future__ import annotations

from typing import Any

import pytest

from vallum.errors import BadRequest, UpstreamError
from vallum.pipeline.exchange import Endpoint, Source, WireFormat
from vallum.providers.anthropic import normalize_request, response_parts, response_usage


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude", "max_tokens": 10, **extra}


def test_string_system_and_messages() -> None:
    request = normalize_request(
        body(
            system="sys",
            messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        )
    )
    assert (request.endpoint, request.wire, request.model) == (
        Endpoint.MESSAGES,
        WireFormat.ANTHROPIC,
        "claude",
    )
    assert [(p.text, p.source, p.path, p.message_index) for p in request.parts] == [
        ("sys", Source.SYSTEM, ("system",), None),
        ("q", Source.USER, ("messages", 0, "content"), 0),
        ("a", Source.ASSISTANT, ("messages", 1, "content"), 1),
    ]
    assert request.message_count == 2


def test_blocks_tool_results_and_documents() -> None:
    request = normalize_request(
        body(
            system=[{"type": "text", "text": "sys block"}],
            stream=True,
            tools=[{"name": "t", "input_schema": {"type": "object"}}],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hello"},
                        {"type": "image", "source": {"type": "base64", "data": "AA"}},
                        {
                            "type": "document",
                            "source": {
                                "type": "text",
                                "media_type": "text/plain",
                                "data": "doc text",
                            },
                        },
                        {
                            "type": "document",
                            "source": {
                                "type": "content",
                                "content": [{"type": "text", "text": "doc block"}],
                            },
                        },
                        {"type": "document", "source": {"type": "base64", "data": "JVBER"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "s"},
                        {"type": "tool_use", "id": "t1", "name": "t", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "plain result"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "block result"}],
                        },
                        {"type": "tool_result", "tool_use_id": "t1"},
                    ],
                },
            ],
        )
    )
    assert [(p.text, p.source) for p in request.parts] == [
        ("sys block", Source.SYSTEM),
        ("hello", Source.USER),
        ("doc text", Source.DOCUMENT),
        ("doc block", Source.DOCUMENT),
        ("plain result", Source.TOOL_RESULT),
        ("block result", Source.TOOL_RESULT),
        ("t", Source.SYSTEM),  # the tool's name: client-written text too
    ]
    assert request.parts[2].path == ("messages", 0, "content", 2, "source", "data")
    assert request.parts[5].path == ("messages", 2, "content", 1, "content", 0, "text")
    assert request.tools == [{"name": "t", "input_schema": {"type": "object"}}]
    assert request.stream is True


def test_replace_text_in_a_tool_result() -> None:
    data = body(
        messages=[
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "x", "content": "secret"}],
            }
        ]
    )
    request = normalize_request(data)
    request.replace_text(request.parts[0], "[hidden]")
    assert data["messages"][0]["content"][0]["content"] == "[hidden]"
    assert request.dirty


@pytest.mark.parametrize(
    ("data", "code", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "missing_required_parameter", "model"),
        (body(model=3, messages=[]), "missing_required_parameter", "model"),
        (body(), "invalid_type", "messages"),
        (body(messages=[]), "invalid_value", "messages"),
        (body(messages=["x"]), "invalid_type", "messages.0"),
        (body(messages=[{"role": "system", "content": "x"}]), "invalid_value", "messages.0.role"),
        (body(messages=[{"role": "user"}]), "invalid_type", "messages.0.content"),
        (
            body(messages=[{"role": "user", "content": [{"type": "text"}]}]),
            "invalid_type",
            "messages.0.content.0.text",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "hidden", "text": "x"}]}]),
            "invalid_value",
            "messages.0.content.0.type",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "document"}]}]),
            "invalid_type",
            "messages.0.content.0.source",
        ),
        (
            body(system={"text": "x"}, messages=[{"role": "user", "content": "x"}]),
            "invalid_type",
            "system",
        ),
        (body(stream=1, messages=[{"role": "user", "content": "x"}]), "invalid_type", "stream"),
        (body(tools=["t"], messages=[{"role": "user", "content": "x"}]), "invalid_type", "tools.0"),
    ],
)
def test_malformed_requests_are_400s(data: dict[str, Any], code: str, param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        normalize_request(data)
    assert (caught.value.code, caught.value.param) == (code, param)


def test_response_parts_and_usage() -> None:
    answer = {
        "content": [
            {"type": "thinking", "thinking": "..."},
            {"type": "text", "text": "hi"},
            {"type": "tool_use", "input": {}},
        ],
        "usage": {"input_tokens": 5, "output_tokens": 6},
    }
    assert [(p.text, p.path) for p in response_parts(answer)] == [("hi", ("content", 1, "text"))]
    usage = response_usage(answer)
    assert usage is not None and usage.total_tokens == 11
    assert response_usage({"usage": None}) is None
    assert response_parts({}) == []


@pytest.mark.parametrize("content", [["x"], {"type": "text"}, "text"])
def test_malformed_upstream_answer_is_an_upstream_error(content: Any) -> None:
    with pytest.raises(UpstreamError):
        response_parts({"content": content})


def test_parsing_stops_at_max_parts() -> None:
    blocks = [{"type": "text", "text": "a"}] * 10_000
    with pytest.raises(BadRequest) as caught:
        normalize_request(body(messages=[{"role": "user", "content": blocks}]), max_parts=16)
    assert caught.value.code == "too_many_parts"
