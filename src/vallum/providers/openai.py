"""OpenAI wire format: requests to a NormalizedRequest, response text parts and usage."""

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

_ROLE_SOURCE = {
    "system": Source.SYSTEM,
    "developer": Source.SYSTEM,
    "user": Source.USER,
    "assistant": Source.ASSISTANT,
    "tool": Source.TOOL_RESULT,
    "function": Source.TOOL_RESULT,
}
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text", "refusal"})
_MEDIA_PART_TYPES = frozenset({"image_url", "input_audio", "file", "input_image", "input_file"})


def normalize_request(
    endpoint: Endpoint, body: dict[str, Any], *, max_parts: int | None = None
) -> NormalizedRequest:
    """Parse an OpenAI body once; malformed shapes raise BadRequest and never reach the model.

    Parsing stops with a 400 at the ``max_parts``-th text part beyond the cap."""
    model = expect_str(body.get("model"), "model") if "model" in body else None
    if model is None or not model:
        raise BadRequest("'model' is required.", code="missing_required_parameter", param="model")
    request = NormalizedRequest(
        endpoint=endpoint,
        wire=WireFormat.OPENAI,
        model=model,
        stream=optional_bool(body, "stream"),
        body=body,
        max_parts=max_parts,
    )
    if endpoint is Endpoint.CHAT:
        _chat(request, body)
    elif endpoint is Endpoint.COMPLETIONS:
        _prompt(request, body)
    elif endpoint is Endpoint.EMBEDDINGS:
        _embedding_input(request, body)
    elif endpoint is Endpoint.RESPONSES:
        _responses_input(request, body)
    return request


def _chat(request: NormalizedRequest, body: dict[str, Any]) -> None:
    messages = expect_list(body.get("messages"), "messages", allow_empty=False)
    request.message_count = len(messages)
    for index, raw in enumerate(messages):
        message = expect_dict(raw, f"messages[{index}]")
        role = message.get("role")
        source = _ROLE_SOURCE.get(role) if isinstance(role, str) else None
        if source is None:
            raise BadRequest(
                f"'messages[{index}].role' must be one of {sorted(_ROLE_SOURCE)}.",
                code="invalid_value",
                param=f"messages[{index}].role",
            )
        _content(request, message.get("content"), source, ("messages", index, "content"), index)
        _name(request, message, source, ("messages", index), index)
        calls = optional_list(message.get("tool_calls"), f"messages[{index}].tool_calls")
        for call_index, call in enumerate(calls):
            _tool_call(request, call, ("messages", index, "tool_calls", call_index), index)
    _tools(request, body, ("function",))


def _name(
    request: NormalizedRequest,
    holder: dict[str, Any],
    source: Source,
    path: tuple[str | int, ...],
    message_index: int | None,
) -> None:
    """A ``name`` the client chose goes upstream as text too: it is scanned like its turn."""
    name = optional_str(holder.get("name"), _param((*path, "name")))
    if name:
        request.add_part(TextPart(name, source, (*path, "name"), message_index))


def _tools(request: NormalizedRequest, body: dict[str, Any], inner: tuple[str, ...]) -> None:
    """Tool definitions: their names and descriptions are client-written prompt text.

    ``inner`` is where a tool keeps them: ``("function",)`` in chat, ``()`` in Responses.
    """
    for tool_index, raw in enumerate(optional_list(body.get("tools"), "tools")):
        tool = expect_dict(raw, f"tools[{tool_index}]")
        request.tools.append(tool)
        path: tuple[str | int, ...] = ("tools", tool_index)
        holder: Any = tool
        for step in inner:
            holder = holder.get(step)
            path = (*path, step)
            if holder is None:
                break
            holder = expect_dict(holder, _param(path))
        if not isinstance(holder, dict):
            continue
        _name(request, holder, Source.SYSTEM, path, None)
        description = optional_str(holder.get("description"), _param((*path, "description")))
        if description:
            request.add_part(TextPart(description, Source.SYSTEM, (*path, "description"), None))


def _content(
    request: NormalizedRequest,
    content: Any,
    source: Source,
    path: tuple[str | int, ...],
    message_index: int,
) -> None:
    param = _param(path)
    if content is None:
        return
    if isinstance(content, str):
        request.add_part(TextPart(content, source, path, message_index))
        return
    for part_index, raw in enumerate(expect_list(content, param)):
        part = expect_dict(raw, f"{param}[{part_index}]")
        kind = expect_str(part.get("type"), f"{param}[{part_index}].type")
        if kind in _TEXT_PART_TYPES:
            key = "refusal" if kind == "refusal" else "text"
            text = expect_str(part.get(key), f"{param}[{part_index}].{key}")
            request.add_part(TextPart(text, source, (*path, part_index, key), message_index))
        elif kind not in _MEDIA_PART_TYPES:
            raise BadRequest(
                f"'{param}[{part_index}].type' is not a supported content part type.",
                code="invalid_value",
                param=f"{param}[{part_index}].type",
            )


def _tool_call(
    request: NormalizedRequest, raw: Any, path: tuple[str | int, ...], message_index: int
) -> None:
    call = expect_dict(raw, _param(path))
    function = expect_dict(call.get("function"), _param((*path, "function")))
    arguments = function.get("arguments", "")
    arg_path = (*path, "function", "arguments")
    request.add_part(
        TextPart(expect_str(arguments, _param(arg_path)), Source.TOOL_CALL, arg_path, message_index)
    )


def _prompt(request: NormalizedRequest, body: dict[str, Any]) -> None:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        request.add_part(TextPart(prompt, Source.USER, ("prompt",), 0))
    else:
        for index, item in enumerate(expect_list(prompt, "prompt", allow_empty=False)):
            text = expect_str(item, f"prompt[{index}]")
            request.add_part(TextPart(text, Source.USER, ("prompt", index), index))
    request.message_count = max(1, len(request.parts))


def _embedding_input(request: NormalizedRequest, body: dict[str, Any]) -> None:
    data = body.get("input")
    if isinstance(data, str):
        request.add_part(TextPart(data, Source.EMBEDDING_INPUT, ("input",), 0))
        request.message_count = 1
        return
    items = expect_list(data, "input", allow_empty=False)
    request.message_count = len(items)
    for index, item in enumerate(items):
        if isinstance(item, str):
            request.add_part(TextPart(item, Source.EMBEDDING_INPUT, ("input", index), index))
        elif isinstance(item, int) and not isinstance(item, bool):
            continue  # a token id: no text to scan
        elif isinstance(item, list) and all(
            isinstance(t, int) and not isinstance(t, bool) for t in item
        ):
            continue
        else:
            raise BadRequest(
                "'input' items must be strings or arrays of token ids.",
                code="invalid_type",
                param=f"input[{index}]",
            )


def _responses_input(request: NormalizedRequest, body: dict[str, Any]) -> None:
    instructions = body.get("instructions")
    if instructions is not None:
        text = expect_str(instructions, "instructions")
        request.add_part(TextPart(text, Source.SYSTEM, ("instructions",), None))
    data = body.get("input")
    if isinstance(data, str):
        request.add_part(TextPart(data, Source.USER, ("input",), 0))
        request.message_count = 1
    else:
        items = expect_list(data, "input", allow_empty=False)
        request.message_count = len(items)
        for index, raw in enumerate(items):
            _responses_item(request, expect_dict(raw, f"input[{index}]"), index)
    _tools(request, body, ())


def _responses_item(request: NormalizedRequest, item: dict[str, Any], index: int) -> None:
    kind = optional_str(item.get("type"), f"input[{index}].type") or "message"
    path: tuple[str | int, ...] = ("input", index)
    if kind == "message":
        role = item.get("role")
        source = _ROLE_SOURCE.get(role) if isinstance(role, str) else None
        if source is None or source is Source.TOOL_RESULT:
            raise BadRequest(
                f"'input[{index}].role' must be user, assistant, system or developer.",
                code="invalid_value",
                param=f"input[{index}].role",
            )
        _content(request, item.get("content"), source, (*path, "content"), index)
    elif kind == "function_call_output":
        output = expect_str(item.get("output"), f"input[{index}].output")
        request.add_part(TextPart(output, Source.TOOL_RESULT, (*path, "output"), index))
    elif kind == "function_call":
        arguments = expect_str(item.get("arguments", ""), f"input[{index}].arguments")
        request.add_part(TextPart(arguments, Source.TOOL_CALL, (*path, "arguments"), index))
    elif kind not in ("reasoning", "item_reference"):
        raise BadRequest(
            f"'input[{index}].type' is not a supported input item type.",
            code="invalid_value",
            param=f"input[{index}].type",
        )


def _param(path: tuple[str | int, ...]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def response_parts(endpoint: Endpoint, body: dict[str, Any]) -> list[TextPart]:
    """Text the model produced, with paths for in-place edits."""
    parts: list[TextPart] = []
    if endpoint is Endpoint.CHAT:
        for index, choice in enumerate(upstream_dicts(body.get("choices"))):
            message = upstream_dicts([choice.get("message") or {}])[0]
            if isinstance(message.get("content"), str):
                parts.append(
                    TextPart(
                        message["content"],
                        Source.ASSISTANT,
                        ("choices", index, "message", "content"),
                        index,
                    )
                )
            for call_index, call in enumerate(upstream_dicts(message.get("tool_calls"))):
                arguments = upstream_dicts([call.get("function") or {}])[0].get("arguments")
                if isinstance(arguments, str):
                    path = (
                        "choices",
                        index,
                        "message",
                        "tool_calls",
                        call_index,
                        "function",
                        "arguments",
                    )
                    parts.append(TextPart(arguments, Source.TOOL_CALL, path, index))
    elif endpoint is Endpoint.COMPLETIONS:
        for index, choice in enumerate(upstream_dicts(body.get("choices"))):
            if isinstance(choice.get("text"), str):
                parts.append(
                    TextPart(choice["text"], Source.ASSISTANT, ("choices", index, "text"), index)
                )
    elif endpoint is Endpoint.RESPONSES:
        parts.extend(responses_output_parts(body, ()))
    return parts


def responses_output_parts(response: dict[str, Any], base: tuple[str | int, ...]) -> list[TextPart]:
    parts: list[TextPart] = []
    for out_index, item in enumerate(upstream_dicts(response.get("output"))):
        if item.get("type") == "message":
            for content_index, content in enumerate(upstream_dicts(item.get("content"))):
                if content.get("type") == "output_text" and isinstance(content.get("text"), str):
                    path = (*base, "output", out_index, "content", content_index, "text")
                    parts.append(TextPart(content["text"], Source.ASSISTANT, path, out_index))
        elif item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
            path = (*base, "output", out_index, "arguments")
            parts.append(TextPart(item["arguments"], Source.TOOL_CALL, path, out_index))
    return parts


def response_usage(body: dict[str, Any]) -> Usage | None:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    input_tokens = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    output_tokens = usage.get("completion_tokens", usage.get("output_tokens", 0))
    if not isinstance(input_tokens, int) or not isinstance(output_tokens, int):
        return None
    return Usage(input_tokens, output_tokens)
