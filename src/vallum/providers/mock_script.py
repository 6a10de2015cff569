"""Scripted replies for the mock model: directives a test writes into the last message.

``[[mock:call:NAME:{...json...}]]`` makes the model call tool NAME with those arguments;
``[[mock:say:TEXT]]`` makes it answer TEXT; ``[[mock:run:NAME]]`` plays the directive that
``MockSettings.scripts`` holds under NAME, so the request itself need not carry the values.
None needs a space, so text that a gateway rewrote (spotlighting marks spaces) still
carries a readable directive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from vallum.errors import BadRequest

__all__ = ["Directive", "find_directive"]

_DIRECTIVE = re.compile(r"\[\[mock:(call|say|run):(.*?)\]\](?!\])", re.DOTALL)
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


@dataclass(frozen=True, slots=True)
class Directive:
    """What a scripted turn asks the mock for: a tool call (name + JSON arguments) or text."""

    text: str = ""
    tool_name: str | None = None
    tool_arguments: str = ""


def find_directive(text: str, scripts: Mapping[str, str] | None = None) -> Directive | None:
    """The last directive in ``text``; a malformed one is a 400, so a test never passes by luck."""
    matches = list(_DIRECTIVE.finditer(text))
    if not matches:
        return None
    kind, body = matches[-1].group(1), matches[-1].group(2)
    if kind == "run":
        script = (scripts or {}).get(body)
        if script is None or _DIRECTIVE.fullmatch(script) is None or "[[mock:run:" in script:
            raise BadRequest("mock directive: no such script", param="messages")
        return find_directive(script)
    if kind == "say":
        return Directive(text=body)
    name, _, arguments = body.partition(":")
    if not _TOOL_NAME.match(name):
        raise BadRequest("mock directive: the tool name is malformed", param="messages")
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest("mock directive: the arguments are not JSON", param="messages") from exc
    if not isinstance(parsed, dict):
        raise BadRequest("mock directive: the arguments must be a JSON object", param="messages")
    return Directive(tool_name=name, tool_arguments=orjson.dumps(parsed).decode())
