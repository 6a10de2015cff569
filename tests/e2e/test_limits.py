"""Request limits over real sockets: body size while reading, compression, JSON shape, headers."""

from __future__ import annotations

import gzip
import socket
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app
from vallum.proxy.app import GatewayApp

LIMITS = {
    "max_body_bytes": 64 * 1024,
    "max_decompressed_bytes": 256 * 1024,
    "max_header_bytes": 4096,
    "max_json_depth": 16,
    "max_messages": 8,
}
CHAT = "/v1/chat/completions"


class CountingUpstream:
    """The mock model over HTTP, counting the requests that reach it."""

    def __init__(self) -> None:
        self.requests = 0
        self._inner = mock_asgi_app(MockModel(MockSettings(chunks=3)))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self._inner(scope, receive, send)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[ServerThread, CountingUpstream]]:
    app = CountingUpstream()
    with ServerThread(app) as server:
        yield server, app


@pytest.fixture(scope="module")
def gateway(upstream: tuple[ServerThread, CountingUpstream]) -> Iterator[ServerThread]:
    config = build_config(gateway_config(upstream[0].url, limits=LIMITS))
    with ServerThread(GatewayApp(Gateway(config))) as server:
        yield server


@pytest.fixture
def http(gateway: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


def chat_body(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-echo", "messages": [{"role": "user", "content": text}], **extra}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def raw_exchange(port: int, data: bytes, *, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send raw bytes, read the reply until the server closes; returns (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(head.split(b" ")[1]), body


def test_a_normal_request_passes(http: httpx.Client) -> None:
    response = http.post(CHAT, json=chat_body("within limits"))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "within limits"


def test_declared_content_length_over_the_cap_is_refused_before_reading(
    gateway: ServerThread, upstream: tuple[ServerThread, CountingUpstream]
) -> None:
    before = upstream[1].requests
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\nConnection: close\r\n\r\n"
    ).encode()
    # No body is sent at all: a gateway that waited for it would time the socket out.
    status, body = raw_exchange(gateway.port, head)
    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "request_too_large"
    assert upstream[1].requests == before


def test_chunked_body_over_the_cap_is_refused(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "gpt-echo", "messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"a" * 4096
        yield b'"}]}'

    response = http.post(CHAT, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "request_too_large")


def test_chunked_body_under_the_cap_is_accepted(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        data = orjson.dumps(chat_body("chunked but small"))
        yield data[:10]
        yield data[10:]

    response = http.post(CHAT, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "chunked but small"


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some clients send
        ("GZIP", gzip.compress),
    ],
)
def test_compressed_bodies_are_accepted(http: httpx.Client, encoding: str, compress: Any) -> None:
    text = "compressed " * 2000  # 22 kB of text: compressed well under, inflated under the cap
    response = http.post(
        CHAT,
        content=compress(orjson.dumps(chat_body(text))),
        headers={"content-type": "application/json", "content-encoding": encoding},
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == text


def test_gzip_bomb_is_refused(
    http: httpx.Client, upstream: tuple[ServerThread, CountingUpstream]
) -> None:
    bomb = gzip.compress(b"0" * (50 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < LIMITS["max_body_bytes"]
    before = upstream[1].requests
    response = http.post(
        CHAT, content=bomb, headers={"content-type": "application/json", "content-encoding": "gzip"}
    )
    assert_error(response, 413, "decompressed_too_large")
    assert upstream[1].requests == before


@pytest.mark.parametrize(
    "payload",
    [
        b"\x1f\x8b\x08\x00garbage that is not deflate",
        gzip.compress(orjson.dumps(chat_body()))[:-12],  # truncated stream
        b"plain json is not gzip",
    ],
)
def test_corrupt_gzip_is_a_bad_request(http: httpx.Client, payload: bytes) -> None:
    response = http.post(
        CHAT,
        content=payload,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_encoding", "invalid_json")


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br", "compress"])
def test_unsupported_content_encoding(http: httpx.Client, encoding: str) -> None:
    response = http.post(
        CHAT,
        content=orjson.dumps(chat_body()),
        headers={"content-type": "application/json", "content-encoding": encoding},
    )
    assert_error(response, 415, "unsupported_encoding")


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "json"],
)
def test_wrong_content_type(http: httpx.Client, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = http.post(CHAT, content=orjson.dumps(chat_body()), headers=headers)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/vnd+json"]
)
def test_json_content_type_variants(http: httpx.Client, content_type: str) -> None:
    response = http.post(
        CHAT, content=orjson.dumps(chat_body()), headers={"content-type": content_type}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"not json",
        b"[]",
        b'"a string"',
        b"42",
        b"null",
        b'{"model": "gpt-echo", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        b'{"model": "gpt-echo", "messages": [], }',
        b"{'model': 'gpt-echo'}",
        b'{"model": NaN}',
    ],
)
def test_invalid_json(http: httpx.Client, payload: bytes) -> None:
    response = http.post(CHAT, content=payload, headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_json")


def _nested(depth: int) -> bytes:
    inner = b'{"a": ' * (depth - 1) + b"1" + b"}" * (depth - 1)
    return b'{"model": "gpt-echo", "messages": [], "metadata": ' + inner + b"}"


def test_json_nested_deeper_than_the_limit(http: httpx.Client) -> None:
    response = http.post(
        CHAT,
        content=_nested(LIMITS["max_json_depth"] + 1),
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400, "json_too_deep")


def test_json_nesting_within_the_limit_is_not_a_depth_error(http: httpx.Client) -> None:
    response = http.post(
        CHAT,
        content=_nested(LIMITS["max_json_depth"]),
        headers={"content-type": "application/json"},
    )
    # It gets past the depth check and fails later (empty messages), not as json_too_deep.
    assert response.status_code == 400
    assert response.json()["error"]["code"] != "json_too_deep"


def test_very_deep_json_is_a_400_not_a_crash(http: httpx.Client) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    response = http.post(
        CHAT,
        content=b'{"model": "gpt-echo", "x": ' + deep + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("json_too_deep", "invalid_json")


def test_too_many_messages(
    http: httpx.Client, upstream: tuple[ServerThread, CountingUpstream]
) -> None:
    before = upstream[1].requests
    messages = [{"role": "user", "content": str(i)} for i in range(LIMITS["max_messages"] + 1)]
    response = http.post(CHAT, json={"model": "gpt-echo", "messages": messages})
    assert_error(response, 400, "too_many_messages")
    assert upstream[1].requests == before
    response = http.post(CHAT, json={"model": "gpt-echo", "messages": messages[:-1]})
    assert response.status_code == 200


def test_header_block_over_the_cap(http: httpx.Client) -> None:
    response = http.post(CHAT, json=chat_body(), headers={"x-padding": "p" * 5000})
    assert_error(response, 431, "headers_too_large")


def test_many_small_headers_count_together(http: httpx.Client) -> None:
    headers = {f"x-pad-{i}": "v" * 100 for i in range(60)}
    response = http.post(CHAT, json=chat_body(), headers=headers)
    assert_error(response, 431, "headers_too_large")


def test_invalid_content_length_is_refused(gateway: ServerThread) -> None:
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 12abc\r\nConnection: close\r\n\r\n"
    ).encode()
    status, _ = raw_exchange(gateway.port, head)
    assert 400 <= status < 500
