"""OpenAI wire format: every text a model will read is found, with where it came from."""

from __future__ import annotations

from typing import Any

import pytest

from vallum.errors import BadRequest, UpstreamError
from vallum.pipeline.exchange import Endpoint, Source
from vallum.providers.openai import normalize_request, response_parts, response_usage


def texts(endpoint: Endpoint, body: dict[str, Any]) -> list[tuple[str, Source]]:
    return [(part.text, part.source) for part in normalize_request(endpoint, body).parts]


def test_chat_roles_map_to_sources() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "developer", "content": "dev"},
            {"role": "user", "content": "usr"},
            {"role": "assistant", "content": "asst"},
            {"role": "tool", "tool_call_id": "c", "content": "tool out"},
            {"role": "function", "name": "f", "content": "fn out"},
        ],
    }
    request = normalize_request(Endpoint.CHAT, body)
    assert [(p.text, p.source) for p in request.parts] == [
        ("sys", Source.SYSTEM),
        ("dev", Source.SYSTEM),
        ("usr", Source.USER),
        ("asst", Source.ASSISTANT),
        ("tool out", Source.TOOL_RESULT),
        ("fn out", Source.TOOL_RESULT),
        ("f", Source.TOOL_RESULT),  # a client-chosen name goes upstream: scanned with its turn
    ]
    assert request.message_count == 6
    assert [p.message_index for p in request.parts] == [0, 1, 2, 3, 4, 5, 5]
    assert request.model == "m" and request.stream is False


def test_chat_content_parts_tool_calls_and_tools() -> None:
    body = {
        "model": "m",
        "stream": True,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                    {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
                    {"type": "text", "text": "here"},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "no"}],
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"q": 1}'},
                    }
                ],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    request = normalize_request(Endpoint.CHAT, body)
    assert [(p.text, p.source, p.path) for p in request.parts] == [
        ("look", Source.USER, ("messages", 0, "content", 0, "text")),
        ("here", Source.USER, ("messages", 0, "content", 3, "text")),
        ("no", Source.ASSISTANT, ("messages", 1, "content", 0, "refusal")),
        ('{"q": 1}', Source.TOOL_CALL, ("messages", 1, "tool_calls", 0, "function", "arguments")),
        ("f", Source.SYSTEM, ("tools", 0, "function", "name")),
    ]
    assert request.tools == [{"type": "function", "function": {"name": "f"}}]
    assert request.stream is True


def test_replace_text_edits_the_body_in_place() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}],
    }
    request = normalize_request(Endpoint.CHAT, body)
    request.replace_text(request.parts[0], "[REDACTED]")
    assert body["messages"][0]["content"][0]["text"] == "[REDACTED]"
    assert request.dirty


def test_completions_embeddings_and_responses() -> None:
    assert texts(Endpoint.COMPLETIONS, {"model": "m", "prompt": "p"}) == [("p", Source.USER)]
    assert texts(Endpoint.COMPLETIONS, {"model": "m", "prompt": ["a", "b"]}) == [
        ("a", Source.USER),
        ("b", Source.USER),
    ]
    embed = normalize_request(Endpoint.EMBEDDINGS, {"model": "m", "input": ["x", [1, 2], 3]})
    assert [(p.text, p.source) for p in embed.parts] == [("x", Source.EMBEDDING_INPUT)]
    assert embed.message_count == 3
    body = {
        "model": "m",
        "instructions": "be nice",
        "input": [
            {"role": "user", "content": "q"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "a"}],
            },
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "result"},
            {"type": "reasoning", "id": "r", "summary": []},
        ],
    }
    assert texts(Endpoint.RESPONSES, body) == [
        ("be nice", Source.SYSTEM),
        ("q", Source.USER),
        ("a", Source.ASSISTANT),
        ("{}", Source.TOOL_CALL),
        ("result", Source.TOOL_RESULT),
    ]
    assert texts(Endpoint.RESPONSES, {"model": "m", "input": "hi"}) == [("hi", Source.USER)]


@pytest.mark.parametrize(
    ("endpoint", "body", "code", "param"),
    [
        (Endpoint.CHAT, {"messages": []}, "missing_required_parameter", "model"),
        (Endpoint.CHAT, {"model": "", "messages": []}, "missing_required_parameter", "model"),
        (Endpoint.CHAT, {"model": 5, "messages": []}, "invalid_type", "model"),
        (Endpoint.CHAT, {"model": "m"}, "invalid_type", "messages"),
        (Endpoint.CHAT, {"model": "m", "messages": []}, "invalid_value", "messages"),
        (Endpoint.CHAT, {"model": "m", "messages": ["hi"]}, "invalid_type", "messages[0]"),
        (
            Endpoint.CHAT,
            {"model": "m", "messages": [{"content": "x"}]},
            "invalid_value",
            "messages[0].role",
        ),
        (
            Endpoint.CHAT,
            {"model": "m", "messages": [{"role": "root", "content": "x"}]},
            "invalid_value",
            "messages[0].role",
        ),
        (
            Endpoint.CHAT,
            {"model": "m", "messages": [{"role": "user", "content": 5}]},
            "invalid_type",
            "messages[0].content",
        ),
        (
            Endpoint.CHAT,
            {
                "model": "m",
                "messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}],
            },
            "invalid_type",
            "messages[0].content[0].text",
        ),
        (
            Endpoint.CHAT,
            {
                "model": "m",
                "messages": [{"role": "user", "content": [{"type": "secret_text", "text": "x"}]}],
            },
            "invalid_value",
            "messages[0].content[0].type",
        ),
        (
            Endpoint.CHAT,
            {
                "model": "m",
                "messages": [
                    {"role": "assistant", "tool_calls": [{"function": {"arguments": {}}}]}
                ],
            },
            "invalid_type",
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            Endpoint.CHAT,
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
            "invalid_type",
            "stream",
        ),
        (
            Endpoint.CHAT,
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": {}},
            "invalid_type",
            "tools",
        ),
        (Endpoint.COMPLETIONS, {"model": "m", "prompt": [1]}, "invalid_type", "prompt[0]"),
        (Endpoint.EMBEDDINGS, {"model": "m", "input": [{"text": "x"}]}, "invalid_type", "input[0]"),
        (Endpoint.EMBEDDINGS, {"model": "m", "input": [[1, True]]}, "invalid_type", "input[0]"),
        (
            Endpoint.RESPONSES,
            {"model": "m", "input": [{"role": "tool", "content": "x"}]},
            "invalid_value",
            "input[0].role",
        ),
        (
            Endpoint.RESPONSES,
            {"model": "m", "input": [{"type": "computer_call_output"}]},
            "invalid_value",
            "input[0].type",
        ),
        (
            Endpoint.RESPONSES,
            {"model": "m", "input": [], "instructions": 1},
            "invalid_type",
            "instructions",
        ),
    ],
)
def test_malformed_requests_are_400s(
    endpoint: Endpoint, body: dict[str, Any], code: str, param: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        normalize_request(endpoint, body)
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, code, param)


def test_response_parts() -> None:
    chat = {
        "choices": [
            {
                "message": {
                    "content": "answer",
                    "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
                }
            },
            {"message": {"content": None}},
        ]
    }
    assert [(p.text, p.source, p.path) for p in response_parts(Endpoint.CHAT, chat)] == [
        ("answer", Source.ASSISTANT, ("choices", 0, "message", "content")),
        (
            "{}",
            Source.TOOL_CALL,
            ("choices", 0, "message", "tool_calls", 0, "function", "arguments"),
        ),
    ]
    legacy = {"choices": [{"text": "t"}]}
    assert [p.path for p in response_parts(Endpoint.COMPLETIONS, legacy)] == [
        ("choices", 0, "text")
    ]
    responses = {
        "output": [
            {"type": "reasoning", "summary": []},
            {"type": "message", "content": [{"type": "output_text", "text": "o"}]},
            {"type": "function_call", "arguments": "{}"},
        ]
    }
    assert [(p.text, p.path) for p in response_parts(Endpoint.RESPONSES, responses)] == [
        ("o", ("output", 1, "content", 0, "text")),
        ("{}", ("output", 2, "arguments")),
    ]
    assert response_parts(Endpoint.CHAT, {}) == []
    assert response_parts(Endpoint.EMBEDDINGS, {"data": []}) == []


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        (Endpoint.CHAT, {"choices": ["x"]}),
        (Endpoint.CHAT, {"choices": {"0": {}}}),
        (Endpoint.CHAT, {"choices": [{"message": "x"}]}),
        (Endpoint.CHAT, {"choices": [{"message": {"tool_calls": ["x"]}}]}),
        (Endpoint.CHAT, {"choices": [{"message": {"tool_calls": [{"function": "f"}]}}]}),
        (Endpoint.COMPLETIONS, {"choices": [1]}),
        (Endpoint.RESPONSES, {"output": ["x"]}),
        (Endpoint.RESPONSES, {"output": [{"type": "message", "content": ["x"]}]}),
    ],
)
def test_malformed_upstream_answers_are_upstream_errors(
    endpoint: Endpoint, body: dict[str, Any]
) -> None:
    with pytest.raises(UpstreamError) as caught:
        response_parts(endpoint, body)
    assert caught.value.status == 502


def test_response_usage() -> None:
    usage = response_usage({"usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    assert usage is not None and (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        3,
        4,
        7,
    )
    usage = response_usage({"usage": {"input_tokens": 1, "output_tokens": 2}})
    assert usage is not None and usage.total_tokens == 3
    assert response_usage({}) is None
    assert response_usage({"usage": "x"}) is None
    assert response_usage({"usage": {"prompt_tokens": "3"}}) is None


def test_parsing_stops_at_max_parts() -> None:
    parts = [{"type": "text", "text": "a"}] * 100_000
    body = {"model": "m", "messages": [{"role": "user", "content": parts}]}
    with pytest.raises(BadRequest) as caught:
        normalize_request(Endpoint.CHAT, body, max_parts=64)
    assert caught.value.code == "too_many_parts"
    within = {"model": "m", "messages": [{"role": "user", "content": parts[:64]}]}
    assert len(normalize_request(Endpoint.CHAT, within, max_parts=64).parts) == 64
