"""Small shape checks shared by the wire-format parsers: malformed input is a clear 400."""

from __future__ import annotations

from typing import Any

from vallum.errors import BadRequest, UpstreamError

__all__ = [
    "expect_dict",
    "expect_list",
    "expect_str",
    "optional_bool",
    "optional_list",
    "optional_str",
    "upstream_dicts",
]


def expect_dict(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"'{param}' must be an object.", code="invalid_type", param=param)
    return value


def expect_list(value: Any, param: str, *, allow_empty: bool = True) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(f"'{param}' must be an array.", code="invalid_type", param=param)
    if not allow_empty and not value:
        raise BadRequest(f"'{param}' must not be empty.", code="invalid_value", param=param)
    return value


def expect_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"'{param}' must be a string.", code="invalid_type", param=param)
    return value


def optional_list(value: Any, param: str) -> list[Any]:
    """An array that may be absent or null (then empty); any other type is a 400."""
    return [] if value is None else expect_list(value, param)


def optional_str(value: Any, param: str) -> str | None:
    """A string that may be absent or null; any other type (a type tag of ``[]``) is a 400."""
    return None if value is None else expect_str(value, param)


def optional_bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"'{key}' must be a boolean.", code="invalid_type", param=key)
    return value


def upstream_dicts(value: Any) -> list[dict[str, Any]]:
    """Objects listed in an upstream answer (absent: none); another shape is a 502, not a 500."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise UpstreamError("The upstream sent an invalid response.", code="upstream_error")
    return value
