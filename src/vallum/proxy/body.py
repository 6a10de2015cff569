"""Reading a request body under limits: size while reading, decompression cap, JSON depth."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from vallum.config.models import LimitsConfig
from vallum.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

__all__ = ["ClientGone", "decode_json", "read_body"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientGone(Exception):
    """The client disconnected while sending its body."""


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than this gateway accepts ({limit} bytes).",
        code="request_too_large",
    )


async def read_body(receive: Receive, headers: dict[str, str], limits: LimitsConfig) -> bytes:
    """Read the body (Content-Length or chunked), refusing it as soon as it is too large."""
    limit = limits.max_body_bytes
    declared = headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise BadRequest("Content-Length is invalid.", code="invalid_content_length")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return _decompress(body, headers.get("content-encoding"), limits.max_decompressed_bytes)


def _decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return body
    kind = encoding.strip().lower()
    if kind not in ("gzip", "x-gzip", "deflate"):
        raise UnsupportedMediaType(
            "Content-Encoding must be gzip, deflate or identity.", code="unsupported_encoding"
        )
    # wbits 47 accepts gzip and zlib headers; raw deflate (-15) is tried when that fails.
    for wbits in (47, -15):
        decoder = zlib.decompressobj(wbits)
        try:
            data = decoder.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(data) > limit or decoder.unconsumed_tail:
            raise PayloadTooLarge(
                f"The decompressed request body is larger than {limit} bytes.",
                code="decompressed_too_large",
            )
        if not decoder.eof:
            break
        return data
    raise BadRequest("The compressed request body is corrupt.", code="invalid_encoding")


def decode_json(body: bytes, content_type: str | None, max_depth: int) -> dict[str, Any]:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            "Content-Type must be application/json.", code="unsupported_media_type"
        )
    if not body:
        raise BadRequest("The request body is empty.", code="invalid_json")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            "The request body is not valid JSON (UTF-8).", code="invalid_json"
        ) from exc
    if not isinstance(value, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    if body.count(b"{") + body.count(b"[") > max_depth:
        _check_depth(value, max_depth)
    return value


def _check_depth(root: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise BadRequest(
                f"The JSON body is nested deeper than {max_depth} levels.", code="json_too_deep"
            )
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
