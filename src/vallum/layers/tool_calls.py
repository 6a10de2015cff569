"""Tool calls in a non-streamed model response, per wire format: found, and stripped in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from vallum.pipeline.exchange import Endpoint, WireFormat
from vallum.pipeline.layer import ResponseView
from vallum.providers import anthropic, openai

__all__ = ["ToolCall", "find_calls", "strip_calls"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for: the tool's name and its arguments as JSON text."""

    name: str
    arguments: str
    holder: int  # choice (chat), output item (Responses) or content block (Anthropic)
    position: int  # the call's index within its choice; equals ``holder`` elsewhere


def find_calls(wire: WireFormat, endpoint: Endpoint, body: dict[str, Any]) -> list[ToolCall]:
    if wire is WireFormat.ANTHROPIC:
        return _anthropic_calls(body)
    if endpoint is Endpoint.RESPONSES:
        return _responses_calls(body)
    if endpoint is Endpoint.CHAT:
        return _chat_calls(body)
    return []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _chat_calls(body: dict[str, Any]) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for choice_index, choice in enumerate(_dicts(body.get("choices"))):
        message = choice.get("message")
        if not isinstance(message, dict):
            continue
        for position, call in enumerate(_dicts(message.get("tool_calls"))):
            function = call.get("function")
            if isinstance(function, dict):
                calls.append(
                    ToolCall(
                        str(function.get("name", "")),
                        _text(function.get("arguments")),
                        choice_index,
                        position,
                    )
                )
    return calls


def _responses_calls(body: dict[str, Any]) -> list[ToolCall]:
    return [
        ToolCall(str(item.get("name", "")), _text(item.get("arguments")), index, index)
        for index, item in enumerate(_dicts(body.get("output")))
        if item.get("type") == "function_call"
    ]


def _anthropic_calls(body: dict[str, Any]) -> list[ToolCall]:
    return [
        ToolCall(str(block.get("name", "")), _text(block.get("input")), index, index)
        for index, block in enumerate(_dicts(body.get("content")))
        if block.get("type") == "tool_use"
    ]


def _text(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    return orjson.dumps(arguments).decode() if arguments is not None else ""


def strip_calls(
    wire: WireFormat,
    endpoint: Endpoint,
    response: ResponseView,
    held: list[ToolCall],
    refusal: str,
) -> None:
    """Remove ``held`` from the response; where no call is left, ``refusal`` answers instead."""
    body = response.body
    if body is None or not held:
        return
    if wire is WireFormat.ANTHROPIC:
        _strip_anthropic(body, held, refusal)
        response.parts[:] = anthropic.response_parts(body)
    elif endpoint is Endpoint.RESPONSES:
        _strip_responses(body, held, refusal)
        response.parts[:] = openai.response_parts(endpoint, body)
    else:
        _strip_chat(body, held, refusal)
        response.parts[:] = openai.response_parts(endpoint, body)
    response.dirty = True


def _strip_chat(body: dict[str, Any], held: list[ToolCall], refusal: str) -> None:
    choices = _dicts(body.get("choices"))
    for choice_index in sorted({call.holder for call in held}):
        message = choices[choice_index]["message"]
        drop = {call.position for call in held if call.holder == choice_index}
        kept = [c for i, c in enumerate(message.get("tool_calls") or []) if i not in drop]
        if kept:
            message["tool_calls"] = kept
            continue
        message.pop("tool_calls", None)
        content = message.get("content")
        message["content"] = f"{content}\n\n{refusal}" if content else refusal
        choices[choice_index]["finish_reason"] = "content_filter"


def _strip_responses(body: dict[str, Any], held: list[ToolCall], refusal: str) -> None:
    drop = {call.holder for call in held}
    output = [item for index, item in enumerate(body["output"]) if index not in drop]
    if not any(isinstance(item, dict) and item.get("type") == "function_call" for item in output):
        text = {"type": "output_text", "text": refusal, "annotations": [], "logprobs": []}
        output.append(
            {
                "type": "message",
                "id": f"msg_vallum_{len(output)}",
                "status": "completed",
                "role": "assistant",
                "content": [text],
            }
        )
    body["output"] = output


def _strip_anthropic(body: dict[str, Any], held: list[ToolCall], refusal: str) -> None:
    drop = {call.holder for call in held}
    content = [block for index, block in enumerate(body["content"]) if index not in drop]
    if not any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content):
        content.append({"type": "text", "text": refusal})
        body["stop_reason"] = "end_turn"
    body["content"] = content
