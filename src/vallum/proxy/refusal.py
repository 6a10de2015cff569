"""A policy block answered as the model would refuse: HTTP 200, ``content_filter`` ending.

Chat apps show such an answer as is, where a 400 would be an error page. Used when a layer's
``Deny`` carries ``refusal = True`` (input_guard's ``refuse`` action). Embeddings, and
Responses-API streams, have no refusal shape: they get the 400 instead.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from vallum.pipeline.exchange import Endpoint, Exchange, WireFormat
from vallum.pipeline.sse import encode_event

__all__ = ["refusal_body"]


def refusal_body(exchange: Exchange, message: str) -> tuple[bytes, bool] | None:
    """(body, is_event_stream) for this exchange's wire format, or None if it has no refusal."""
    request = exchange.request
    if request is None:
        return None
    model, stream, rid = request.model, request.stream, exchange.request_id
    if exchange.wire is WireFormat.ANTHROPIC:
        return (_anthropic_stream if stream else _anthropic)(rid, model, message), stream
    if request.endpoint is Endpoint.CHAT:
        return (_chat_stream if stream else _chat)(rid, model, message), stream
    if request.endpoint is Endpoint.COMPLETIONS:
        return (_completion_stream if stream else _completion)(rid, model, message), stream
    if request.endpoint is Endpoint.RESPONSES and not stream:
        return _response(rid, model, message), False
    return None


def _chat(rid: str, model: str, message: str) -> bytes:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": message, "refusal": None},
        "logprobs": None,
        "finish_reason": "content_filter",
    }
    return orjson.dumps(
        {**_head(rid, model, "chat.completion"), "choices": [choice], "usage": _zero_usage()}
    )


def _chat_stream(rid: str, model: str, message: str) -> bytes:
    head = _head(rid, model, "chat.completion.chunk")
    first = {"index": 0, "delta": {"role": "assistant", "content": message}, "finish_reason": None}
    last = {"index": 0, "delta": {}, "finish_reason": "content_filter"}
    return _events({**head, "choices": [first]}, {**head, "choices": [last]}) + b"data: [DONE]\n\n"


def _completion(rid: str, model: str, message: str) -> bytes:
    choice = {"index": 0, "text": message, "logprobs": None, "finish_reason": "content_filter"}
    return orjson.dumps(
        {**_head(rid, model, "text_completion"), "choices": [choice], "usage": _zero_usage()}
    )


def _completion_stream(rid: str, model: str, message: str) -> bytes:
    head = _head(rid, model, "text_completion")
    choice = {"index": 0, "text": message, "logprobs": None, "finish_reason": "content_filter"}
    return _events({**head, "choices": [choice]}) + b"data: [DONE]\n\n"


def _response(rid: str, model: str, message: str) -> bytes:
    content = {"type": "output_text", "text": message, "annotations": []}
    item = {
        "type": "message",
        "id": f"msg_{rid}",
        "status": "completed",
        "role": "assistant",
        "content": [content],
    }
    return orjson.dumps(
        {
            "id": f"resp_{rid}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "incomplete",
            "incomplete_details": {"reason": "content_filter"},
            "model": model,
            "output": [item],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
        }
    )


def _anthropic(rid: str, model: str, message: str) -> bytes:
    return orjson.dumps({**_message(rid, model), "content": [{"type": "text", "text": message}]})


def _anthropic_stream(rid: str, model: str, message: str) -> bytes:
    start = {"type": "message_start", "message": {**_message(rid, model), "stop_reason": None}}
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": message},
    }
    end = {"type": "message_delta", "delta": {"stop_reason": "refusal", "stop_sequence": None},
           "usage": {"output_tokens": 0}}  # fmt: skip
    return b"".join(
        encode_event(orjson.dumps(data), str(data["type"]))
        for data in (start, block, delta, {"type": "content_block_stop", "index": 0}, end,
                     {"type": "message_stop"})
    )  # fmt: skip


def _message(rid: str, model: str) -> dict[str, Any]:
    return {
        "id": f"msg_{rid}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": "refusal",
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }


def _head(rid: str, model: str, kind: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{rid}", "object": kind, "created": int(time.time()), "model": model}


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _events(*events: dict[str, Any]) -> bytes:
    return b"".join(encode_event(orjson.dumps(event)) for event in events)
