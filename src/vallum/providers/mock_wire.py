"""Wire formats of the mock model: one decided reply rendered as OpenAI or Anthropic JSON and SSE.

Shapes follow the providers' documented responses and what the official SDKs parse.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

__all__ = [
    "DONE",
    "Finish",
    "Frame",
    "Json",
    "Reply",
    "chat_body",
    "chat_events",
    "completion_body",
    "completion_events",
    "data_event",
    "embedding_body",
    "error_body",
    "message_body",
    "message_events",
    "models_body",
    "named_event",
    "split_text",
]

Json = dict[str, object]
Finish = Literal["stop", "length", "tool_calls"]

DONE = b"data: [DONE]\n\n"
_FINGERPRINT = "fp_mock"
_OPENAI_ERROR_TYPES = {429: "requests", 500: "server_error"}
_ANTHROPIC_ERROR_TYPES = {404: "not_found_error", 429: "rate_limit_error", 500: "api_error"}
_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


@dataclass(frozen=True, slots=True)
class Reply:
    """What the mock decided to answer, before any provider's wire format."""

    text: str
    finish: Finish
    prompt_tokens: int
    completion_tokens: int
    tool_name: str | None = None
    tool_arguments: str = ""  # a JSON object as text, as OpenAI sends it


@dataclass(frozen=True, slots=True)
class Frame:
    """What every event of one response shares."""

    number: int  # from the MockModel's counter; makes every id deterministic
    created: int
    model: str
    chunks: int
    include_usage: bool = False


def split_text(text: str, count: int) -> list[str]:
    """Cut ``text`` into ``count`` nearly equal pieces (fewer if it is shorter, none if empty)."""
    pieces = max(1, min(count, len(text)))
    bounds = [round(i * len(text) / pieces) for i in range(pieces + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(pieces) if bounds[i] < bounds[i + 1]]


def data_event(payload: Json) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def named_event(name: str, payload: Json) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_body(
    status: int, message: str, code: str | None, param: str | None, *, anthropic: bool
) -> Json:
    """An error as the provider sends it; the "type" names follow each provider's docs."""
    if anthropic:
        error_type = _ANTHROPIC_ERROR_TYPES.get(status, "invalid_request_error")
        return {"type": "error", "error": {"type": error_type, "message": message}}
    error_type = _OPENAI_ERROR_TYPES.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": error_type, "code": code, "param": param}}


def models_body(models: Sequence[str], created: int) -> Json:
    data = [{"id": m, "object": "model", "created": created, "owned_by": "vallum"} for m in models]
    return {"object": "list", "data": data}


def _usage(prompt: int, completion: int) -> Json:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


# --- OpenAI chat completions -------------------------------------------------------------------


def _call_id(frame: Frame) -> str:
    return f"call_mock_{frame.number}"


def _chat_message(frame: Frame, reply: Reply) -> Json:
    if reply.tool_name is None:
        return {"role": "assistant", "content": reply.text, "refusal": None}
    function = {"name": reply.tool_name, "arguments": reply.tool_arguments}
    call = {"id": _call_id(frame), "type": "function", "function": function}
    return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}


def chat_body(frame: Frame, reply: Reply, n: int) -> Json:
    message = _chat_message(frame, reply)
    choices = [
        {"index": i, "message": message, "logprobs": None, "finish_reason": reply.finish}
        for i in range(n)
    ]
    return {
        "id": f"chatcmpl-mock-{frame.number}",
        "object": "chat.completion",
        "created": frame.created,
        "model": frame.model,
        "choices": choices,
        "usage": _usage(reply.prompt_tokens, reply.completion_tokens * n),
        "system_fingerprint": _FINGERPRINT,
    }


def _chat_deltas(frame: Frame, reply: Reply) -> list[Json]:
    if reply.tool_name is None:
        first: Json = {"role": "assistant", "content": "", "refusal": None}
        pieces: list[Json] = [{"content": p} for p in split_text(reply.text, frame.chunks)]
        return [first, *pieces]
    function = {"name": reply.tool_name, "arguments": ""}
    call = {"index": 0, "id": _call_id(frame), "type": "function", "function": function}
    first = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
    fragments = split_text(reply.tool_arguments, frame.chunks)
    tail: list[Json] = [
        {"tool_calls": [{"index": 0, "function": {"arguments": f}}]} for f in fragments
    ]
    return [first, *tail]


def chat_events(frame: Frame, reply: Reply, n: int) -> list[bytes]:
    def chunk(choices: list[Json], usage: Json | None = None) -> bytes:
        payload: Json = {
            "id": f"chatcmpl-mock-{frame.number}",
            "object": "chat.completion.chunk",
            "created": frame.created,
            "model": frame.model,
            "system_fingerprint": _FINGERPRINT,
            "choices": choices,
        }
        if frame.include_usage:
            payload["usage"] = usage  # null on every chunk but the last, as OpenAI sends it
        return data_event(payload)

    events: list[bytes] = []
    deltas = _chat_deltas(frame, reply)
    for index in range(n):
        for delta in deltas:
            events.append(chunk([_choice(index, delta, None)]))
        events.append(chunk([_choice(index, {}, reply.finish)]))
    if frame.include_usage:
        usage = _usage(reply.prompt_tokens, reply.completion_tokens * n)
        events.append(chunk([], usage))
    return [*events, DONE]


def _choice(index: int, delta: Json, finish: str | None) -> Json:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


# --- OpenAI legacy completions -----------------------------------------------------------------


def _completion(frame: Frame, choices: list[Json]) -> Json:
    return {
        "id": f"cmpl-mock-{frame.number}",
        "object": "text_completion",
        "created": frame.created,
        "model": frame.model,
        "choices": choices,
        "system_fingerprint": _FINGERPRINT,
    }


def _completion_usage(replies: Sequence[Reply], prompt_tokens: int) -> Json:
    return _usage(prompt_tokens, sum(r.completion_tokens for r in replies))


def completion_body(frame: Frame, replies: Sequence[Reply], prompt_tokens: int) -> Json:
    choices: list[Json] = [
        {"text": r.text, "index": i, "logprobs": None, "finish_reason": r.finish}
        for i, r in enumerate(replies)
    ]
    return {**_completion(frame, choices), "usage": _completion_usage(replies, prompt_tokens)}


def completion_events(frame: Frame, replies: Sequence[Reply], prompt_tokens: int) -> list[bytes]:
    events: list[bytes] = []
    for index, reply in enumerate(replies):
        texts = [*split_text(reply.text, frame.chunks), ""]
        for position, text in enumerate(texts):
            finish = reply.finish if position == len(texts) - 1 else None
            choice: Json = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
            events.append(data_event(_completion(frame, [choice])))
    if frame.include_usage:
        usage = _completion_usage(replies, prompt_tokens)
        events.append(data_event({**_completion(frame, []), "usage": usage}))
    return [*events, DONE]


# --- OpenAI embeddings ------------------------------------------------------------------------


def _vector(key: str, dimensions: int) -> list[float]:
    """A unit vector derived from SHA-256 of the text: equal texts, equal vectors."""
    raw = b"".join(
        hashlib.sha256(f"{block}:{key}".encode()).digest() for block in range(dimensions // 8 + 1)
    )
    values = [
        int.from_bytes(raw[4 * i : 4 * i + 4], "little") / 0x7FFFFFFF - 1.0
        for i in range(dimensions)
    ]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embedding_body(
    frame: Frame, inputs: Sequence[tuple[str, int]], dimensions: int, *, as_base64: bool
) -> Json:
    """``inputs`` are (text or token key, token count); base64 is little-endian float32."""
    data: list[Json] = []
    for index, (key, _) in enumerate(inputs):
        vector = _vector(key, dimensions)
        packed = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        embedding = packed if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(count for _, count in inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": frame.model, "usage": usage}


# --- Anthropic Messages API --------------------------------------------------------------------


def _content_block(frame: Frame, reply: Reply, *, started: bool) -> Json:
    if reply.tool_name is None:
        return {"type": "text", "text": "" if started else reply.text}
    tool_input = {} if started else orjson.loads(reply.tool_arguments)
    tool_id = f"toolu_mock_{frame.number}"
    return {"type": "tool_use", "id": tool_id, "name": reply.tool_name, "input": tool_input}


def _message(frame: Frame, content: list[Json], stop: str | None, usage: Json) -> Json:
    return {
        "id": f"msg_mock_{frame.number}",
        "type": "message",
        "role": "assistant",
        "model": frame.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def message_body(frame: Frame, reply: Reply) -> Json:
    usage: Json = {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens}
    block = _content_block(frame, reply, started=False)
    return _message(frame, [block], _ANTHROPIC_STOP[reply.finish], usage)


def message_events(frame: Frame, reply: Reply) -> list[bytes]:
    # Like the real API, message_start reports one output token; message_delta carries the total.
    start = _message(frame, [], None, {"input_tokens": reply.prompt_tokens, "output_tokens": 1})
    if reply.tool_name is None:
        deltas = [{"type": "text_delta", "text": p} for p in split_text(reply.text, frame.chunks)]
    else:
        fragments = split_text(reply.tool_arguments, frame.chunks)
        deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
    block = _content_block(frame, reply, started=True)
    stop = {"stop_reason": _ANTHROPIC_STOP[reply.finish], "stop_sequence": None}
    payloads: list[Json] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": block},
        {"type": "ping"},
        *({"type": "content_block_delta", "index": 0, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": stop,
            "usage": {"output_tokens": reply.completion_tokens},
        },
        {"type": "message_stop"},
    ]
    return [named_event(str(p["type"]), p) for p in payloads]
