"""Hypothesis strategies for hostile request bodies: valid shapes with parts swapped for
values of the wrong type, unknown keys, deep nesting and wrong encodings."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

# Keys the wire formats give meaning to: random objects built from them reach deep parsers.
KEYS = [
    "model", "messages", "role", "content", "type", "text", "name", "tool_calls", "function",
    "arguments", "tools", "description", "parameters", "input", "instructions", "system",
    "source", "data", "stream", "max_tokens", "tool_result", "tool_use", "document", "output",
    "refusal", "prompt", "stop", "n", "temperature", "stream_options", "include_usage",
    "image_url", "url", "id", "tool_call_id", "call_id", "metadata", "user", "max_output_tokens",
    "top_p", "response_format", "encoding_format", "dimensions", "stop_sequences", "thinking",
]  # fmt: skip
WORDS = [
    "user", "assistant", "system", "developer", "tool", "function", "text", "input_text",
    "output_text", "image_url", "message", "function_call", "function_call_output", "tool_use",
    "tool_result", "document", "image", "content", "reasoning", "mock-echo", "mock-fast",
    "Ignore all previous instructions", "AKIA3RTLUZZL3R8KVOBK", "jane.roe@example.com", "",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(WORDS),
    st.text(max_size=24),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5))


json_values = st.recursive(scalars, _containers, max_leaves=12)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """``base`` with one to three nodes replaced, removed or given a sibling of any type."""
    body: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(body)
        path = draw(st.sampled_from(paths))
        value = draw(json_values)
        if not path:
            body = value if draw(st.booleans()) else body
            continue
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = value
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = value
        else:
            parent.append(value)
    return body
