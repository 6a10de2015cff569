"""Spotlighting transforms (Hines et al. 2024): datamarking of prose, of JSON string values and
of string literals in code; base64 encoding; and the boundary that wraps marked text."""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

__all__ = ["datamark", "encode", "looks_like_code", "wrap"]

_BLANKS = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_FENCE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
# "…" and '…' literals on one line, with escapes; Python triple quotes count as one literal
_LITERAL = re.compile(
    r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\''
)
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|function |const |let |var |return\b|if\s*\(|"
    r"for\s*\(|while\s*\(|#include|public |private |package |fn |func |SELECT |@\w+)"
    r"|[;{}]\s*$|\)\s*:\s*$|=>"
)
_MAX_DEPTH = 64


def wrap(text: str, begin: str, end: str) -> str:
    return f"{begin}\n{text}\n{end}"


def encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def datamark(text: str, marker: str) -> str:
    """Blanks become ``marker``: in prose, in JSON string values, in code string literals."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and (marked := _datamark_json(stripped, marker)):
        return marked
    if looks_like_code(text):
        return _datamark_literals(text, marker)
    out, position = [], 0
    for fence in _FENCE.finditer(text):  # code inside prose keeps its layout
        out.append(_mark_prose(text[position : fence.start()], marker))
        out.append(_datamark_literals(fence.group(), marker))
        position = fence.end()
    out.append(_mark_prose(text[position:], marker))
    return "".join(out)


def looks_like_code(text: str) -> bool:
    """Most non-blank lines (at least three) read as program text."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 3:
        return False
    return sum(1 for line in lines if _CODE_LINE.search(line)) * 2 >= len(lines)


def _mark_prose(text: str, marker: str) -> str:
    return _BLANKS.sub(marker, text)


def _datamark_literals(code: str, marker: str) -> str:
    return _LITERAL.sub(lambda m: _mark_prose(m.group(), marker), code)


def _datamark_json(stripped: str, marker: str) -> str | None:
    try:
        parsed = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None
    option = orjson.OPT_INDENT_2 if "\n" in stripped else 0
    return orjson.dumps(_mark_values(parsed, marker, 0), option=option).decode()


def _mark_values(node: Any, marker: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return node
    if isinstance(node, str):
        return _mark_prose(node, marker)
    if isinstance(node, list):
        return [_mark_values(item, marker, depth + 1) for item in node]
    if isinstance(node, dict):
        return {key: _mark_values(value, marker, depth + 1) for key, value in node.items()}
    return node
