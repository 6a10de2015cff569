"""Reading request bodies under limits: size while reading, decompression cap, JSON shape."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest

from vallum.config.models import LimitsConfig
from vallum.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, VallumError
from vallum.proxy.body import ClientGone, decode_json, read_body

LIMITS = LimitsConfig(max_body_bytes=16384, max_decompressed_bytes=8192, max_json_depth=8)
JSON = "application/json"


class Feed:
    """A fake ASGI ``receive`` that hands out the given messages and counts the reads."""

    def __init__(self, *messages: MutableMapping[str, Any]) -> None:
        self.messages = list(messages)
        self.reads = 0

    async def __call__(self) -> MutableMapping[str, Any]:
        self.reads += 1
        return self.messages.pop(0)


def body_messages(*chunks: bytes) -> list[MutableMapping[str, Any]]:
    return [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]


async def read(feed: Callable[[], Awaitable[Any]], **headers: str) -> bytes:
    return await read_body(feed, {k.replace("_", "-"): v for k, v in headers.items()}, LIMITS)


async def test_reads_chunks_in_order() -> None:
    feed = Feed(*body_messages(b"ab", b"", b"cd", b"e"))
    assert await read(feed) == b"abcde"


async def test_declared_length_over_the_cap_is_refused_without_reading() -> None:
    feed = Feed(*body_messages(b"x"))
    with pytest.raises(PayloadTooLarge) as caught:
        await read(feed, content_length=str(LIMITS.max_body_bytes + 1))
    assert caught.value.code == "request_too_large"
    assert caught.value.status == 413
    assert feed.reads == 0


async def test_body_at_the_cap_is_accepted() -> None:
    data = b"x" * LIMITS.max_body_bytes
    assert await read(Feed(*body_messages(data)), content_length=str(len(data))) == data


async def test_undeclared_body_over_the_cap_stops_reading_early() -> None:
    chunks = [b"y" * 4096] * 10
    feed = Feed(*body_messages(*chunks))
    with pytest.raises(PayloadTooLarge):
        await read(feed)
    assert feed.reads == 5  # 16384 bytes fit; the fifth chunk crosses the cap


async def test_a_lying_content_length_is_still_capped_while_reading() -> None:
    feed = Feed(*body_messages(b"z" * 9000, b"z" * 9000))
    with pytest.raises(PayloadTooLarge):
        await read(feed, content_length="10")


@pytest.mark.parametrize("value", ["", "abc", "-1", "+5", "1e3", " 12", "0x10"])
async def test_invalid_content_length(value: str) -> None:
    with pytest.raises(BadRequest) as caught:
        await read(Feed(*body_messages(b"")), content_length=value)
    assert caught.value.code == "invalid_content_length"


async def test_non_ascii_digit_content_length_is_a_400() -> None:
    with pytest.raises(BadRequest):
        await read(Feed(*body_messages(b"")), content_length="\u00b2")


async def test_disconnect_while_reading() -> None:
    feed = Feed(
        {"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}
    )
    with pytest.raises(ClientGone):
        await read(feed)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        (" GZip ", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),
        ("identity", lambda data: data),
        ("", lambda data: data),
    ],
)
async def test_decompression(encoding: str, compress: Callable[[bytes], bytes]) -> None:
    data = b'{"text": "' + b"q" * 6000 + b'"}'
    assert await read(Feed(*body_messages(compress(data))), content_encoding=encoding) == data


async def test_decompressed_size_is_capped() -> None:
    bomb = gzip.compress(b"\0" * (1024 * 1024))
    assert len(bomb) < LIMITS.max_body_bytes
    with pytest.raises(PayloadTooLarge) as caught:
        await read(Feed(*body_messages(bomb)), content_encoding="gzip")
    assert caught.value.code == "decompressed_too_large"


async def test_decompressed_exactly_at_the_cap_is_accepted() -> None:
    data = b"a" * LIMITS.max_decompressed_bytes
    for compress in (gzip.compress, zlib.compress):
        assert await read(Feed(*body_messages(compress(data))), content_encoding="gzip") == data


@pytest.mark.parametrize(
    "payload",
    [b"not compressed", b"\x1f\x8b\x08\x00\x00\x00\x00\x00", gzip.compress(b"{}" * 100)[:-20], b""],
)
async def test_corrupt_compressed_body(payload: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        await read(Feed(*body_messages(payload)), content_encoding="gzip")
    assert caught.value.code == "invalid_encoding"


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, gzip", "gzip;q=1"])
async def test_unsupported_encodings(encoding: str) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        await read(Feed(*body_messages(b"{}")), content_encoding=encoding)
    assert caught.value.code == "unsupported_encoding"


@pytest.mark.parametrize(
    "content_type",
    [JSON, "application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json"],
)
def test_json_content_types(content_type: str) -> None:
    assert decode_json(b'{"a": 1}', content_type, 8) == {"a": 1}


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/json", "text/plain", "application/jsonx", "multipart/form-data"],
)
def test_other_content_types_are_415(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_json(b"{}", content_type, 8)
    assert caught.value.code == "unsupported_media_type"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{",
        b"[]",
        b"[{}]",
        b"1",
        b"null",
        b'"x"',
        b"\xef\xbb\xbf{}",  # a byte-order mark is not JSON
        b'{"a": "\xff"}',
        b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate is not UTF-8
        b"{a: 1}",
        b'{"a": 1,}',
        b'{"a": Infinity}',
    ],
)
def test_invalid_json(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_json(body, JSON, 8)
    assert caught.value.code == "invalid_json"


def _nest(depth: int, open_: bytes = b'{"k": ', close: bytes = b"}") -> bytes:
    return open_ * (depth - 1) + b"{}" + close * (depth - 1)


@pytest.mark.parametrize(("open_", "close"), [(b'{"k": ', b"}"), (b'{"k": [', b"]}")])
def test_depth_limit(open_: bytes, close: bytes) -> None:
    depth_per_step = 1 if open_ == b'{"k": ' else 2
    steps = 8 // depth_per_step
    decode_json(_nest(steps, open_, close), JSON, 8)  # exactly at the limit
    with pytest.raises(BadRequest) as caught:
        decode_json(_nest(steps + 1, open_, close), JSON, 8)
    assert caught.value.code == "json_too_deep"


def test_braces_inside_strings_do_not_count_as_depth() -> None:
    body = b'{"text": "' + b"{[" * 100 + b'"}'
    assert decode_json(body, JSON, 8) == {"text": "{[" * 100}


def test_every_body_error_is_a_vallum_error_with_a_4xx() -> None:
    for cls in (BadRequest, PayloadTooLarge, UnsupportedMediaType):
        assert issubclass(cls, VallumError)
        assert 400 <= cls.status < 500
