"""Identifiers in a request body (model, user, names, tool ids) hold no control characters.

A model name such as ``"gpt-4\\u0000"`` must not match one route for authorization and
mean another to the upstream, nor forge lines in logs: names with C0/C1 controls, DEL or
Unicode line separators are refused with a 400 before any layer sees the request.
"""

from __future__ import annotations

import re
from typing import Any

from vallum.errors import BadRequest
from vallum.pipeline.exchange import NormalizedRequest

__all__ = ["check_identifiers"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MESSAGE_IDS = ("name", "tool_call_id", "id")
_MAX_CHECKED = 10_000  # messages and tools beyond this are refused elsewhere (max_messages)


def check_identifiers(request: NormalizedRequest) -> None:
    """Raise ``BadRequest`` (``invalid_identifier``) naming the first bad field."""
    body = request.body
    _check(request.model, "model")
    _check(body.get("user"), "user")
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        _check(metadata.get("user_id"), "metadata.user_id")
    messages = body.get("messages")
    if isinstance(messages, list):
        for index, message in enumerate(messages[:_MAX_CHECKED]):
            if isinstance(message, dict):
                _check_message(message, f"messages[{index}]")
    for index, tool in enumerate(request.tools[:_MAX_CHECKED]):
        function = tool.get("function")
        holder = function if isinstance(function, dict) else tool
        _check(holder.get("name"), f"tools[{index}].name")


def _check_message(message: dict[str, Any], where: str) -> None:
    for key in _MESSAGE_IDS:
        _check(message.get(key), f"{where}.{key}")
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for index, call in enumerate(calls[:_MAX_CHECKED]):
            if isinstance(call, dict):
                _check(call.get("id"), f"{where}.tool_calls[{index}].id")
                function = call.get("function")
                if isinstance(function, dict):
                    _check(function.get("name"), f"{where}.tool_calls[{index}].function.name")
    content = message.get("content")
    if isinstance(content, list):  # Anthropic tool_use / tool_result blocks
        for index, block in enumerate(content[:_MAX_CHECKED]):
            if isinstance(block, dict):
                for key in ("id", "name", "tool_use_id"):
                    _check(block.get(key), f"{where}.content[{index}].{key}")


def _check(value: object, param: str) -> None:
    if isinstance(value, str) and _CONTROL.search(value) is not None:
        raise BadRequest(
            f"'{param}' contains control characters.", code="invalid_identifier", param=param
        )
