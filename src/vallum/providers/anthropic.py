"""Anthropic Messages wire format: requests to a NormalizedRequest, response text and usage."""

from __future__ import annotations

from typing import Any

from vallum.errors import BadRequest
from vallum.pipeline.exchange import (
    Endpoint,
    NormalizedRequest,
    Source,
    TextPart,
    Usage,
    WireFormat,
)
from vallum.providers.shapes import (
    expect_dict,
    expect_list,
    expect_str,
    optional_bool,
    optional_list,
    optional_str,
    upstream_dicts,
)

__all__ = ["normalize_request", "response_parts", "response_usage"]

_ROLES = {"user": Source.USER, "assistant": Source.ASSISTANT}
_SKIPPED_BLOCKS = frozenset({"image", "thinking", "redacted_thinking", "server_tool_use"})


def normalize_request(body: dict[str, Any], *, max_parts: int | None = None) -> NormalizedRequest:
    """Parse an Anthropic body once; past ``max_parts`` text parts it is a 400."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required", code="missing_required_parameter", param="model")
    request = NormalizedRequest(
        endpoint=Endpoint.MESSAGES,
        wire=WireFormat.ANTHROPIC,
        model=model,
        stream=optional_bool(body, "stream"),
        body=body,
        max_parts=max_parts,
    )
    system = body.get("system")
    if isinstance(system, str):
        request.add_part(TextPart(system, Source.SYSTEM, ("system",), None))
    elif system is not None:
        _blocks(request, system, Source.SYSTEM, ("system",), None)
    messages = expect_list(body.get("messages"), "messages", allow_empty=False)
    request.message_count = len(messages)
    for index, raw in enumerate(messages):
        message = expect_dict(raw, f"messages.{index}")
        role = message.get("role")
        source = _ROLES.get(role) if isinstance(role, str) else None
        if source is None:
            raise BadRequest(
                f"messages.{index}.role: Input should be 'user' or 'assistant'",
                code="invalid_value",
                param=f"messages.{index}.role",
            )
        content = message.get("content")
        path: tuple[str | int, ...] = ("messages", index, "content")
        if isinstance(content, str):
            request.add_part(TextPart(content, source, path, index))
        else:
            _blocks(request, content, source, path, index)
    for tool_index, raw in enumerate(optional_list(body.get("tools"), "tools")):
        tool = expect_dict(raw, f"tools.{tool_index}")
        request.tools.append(tool)
        _tool_text(request, tool, tool_index)
    return request


def _tool_text(request: NormalizedRequest, tool: dict[str, Any], index: int) -> None:
    """A tool's name and description are client-written prompt text: scanned as such."""
    for key in ("name", "description"):
        text = optional_str(tool.get(key), f"tools.{index}.{key}")
        if text:
            request.add_part(TextPart(text, Source.SYSTEM, ("tools", index, key), None))


def _blocks(
    request: NormalizedRequest,
    content: Any,
    source: Source,
    path: tuple[str | int, ...],
    message_index: int | None,
) -> None:
    param = ".".join(str(step) for step in path)
    for block_index, raw in enumerate(expect_list(content, param)):
        block = expect_dict(raw, f"{param}.{block_index}")
        kind = expect_str(block.get("type"), f"{param}.{block_index}.type")
        block_path = (*path, block_index)
        if kind == "text":
            text = expect_str(block.get("text"), f"{param}.{block_index}.text")
            request.add_part(TextPart(text, source, (*block_path, "text"), message_index))
        elif kind == "tool_result":
            _tool_result(request, block, block_path, message_index)
        elif kind == "document":
            _document(request, block, block_path, message_index)
        elif kind == "tool_use":
            continue  # structured input the model produced earlier; arguments are JSON, not prose
        elif kind not in _SKIPPED_BLOCKS:
            raise BadRequest(
                f"{param}.{block_index}.type: unsupported content block type",
                code="invalid_value",
                param=f"{param}.{block_index}.type",
            )


def _tool_result(
    request: NormalizedRequest,
    block: dict[str, Any],
    path: tuple[str | int, ...],
    message_index: int | None,
) -> None:
    content = block.get("content")
    if isinstance(content, str):
        request.add_part(TextPart(content, Source.TOOL_RESULT, (*path, "content"), message_index))
    elif content is not None:
        _blocks(request, content, Source.TOOL_RESULT, (*path, "content"), message_index)


def _document(
    request: NormalizedRequest,
    block: dict[str, Any],
    path: tuple[str | int, ...],
    message_index: int | None,
) -> None:
    param = ".".join(str(s) for s in path) + ".source"
    source = expect_dict(block.get("source"), param)
    kind = optional_str(source.get("type"), f"{param}.type")
    if kind == "text" and isinstance(source.get("data"), str):
        request.add_part(
            TextPart(source["data"], Source.DOCUMENT, (*path, "source", "data"), message_index)
        )
    elif kind == "content":
        _blocks(
            request,
            source.get("content"),
            Source.DOCUMENT,
            (*path, "source", "content"),
            message_index,
        )


def response_parts(body: dict[str, Any]) -> list[TextPart]:
    parts: list[TextPart] = []
    for index, block in enumerate(upstream_dicts(body.get("content"))):
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(TextPart(block["text"], Source.ASSISTANT, ("content", index, "text"), 0))
    return parts


def response_usage(body: dict[str, Any]) -> Usage | None:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    input_tokens = usage.get("input_tokens", 0)
    output_tokens = usage.get("output_tokens", 0)
    if not isinstance(input_tokens, int) or not isinstance(output_tokens, int):
        return None
    return Usage(input_tokens, output_tokens)
