"""Routing over real sockets: exact paths, no route confusion, the client never picks the host."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from tests.support.servers import ServerThread
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app
from vallum.proxy.app import GatewayApp

CHAT_BODY = orjson.dumps(
    {"model": "gpt-echo", "messages": [{"role": "user", "content": "route me"}]}
)


@dataclass
class Seen:
    path: str
    query: bytes
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingUpstream:
    """The mock model over HTTP; keeps every request that reaches it."""

    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._inner = mock_asgi_app(MockModel(MockSettings(chunks=3)))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(Seen(scope["path"], scope["query_string"], headers, body))
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._inner(scope, replay, send)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[ServerThread, RecordingUpstream]]:
    app = RecordingUpstream()
    with ServerThread(app) as server:
        yield server, app


@pytest.fixture(scope="module")
def bystander() -> Iterator[tuple[ServerThread, RecordingUpstream]]:
    """A second loopback server that no request may ever reach."""
    app = RecordingUpstream()
    with ServerThread(app) as server:
        yield server, app


@pytest.fixture(scope="module")
def gateway(upstream: tuple[ServerThread, RecordingUpstream]) -> Iterator[ServerThread]:
    config = build_config(
        {
            "providers": [
                {"name": "up", "type": "openai", "base_url": f"{upstream[0].url}/v1"},
                {"name": "up-anthropic", "type": "anthropic", "base_url": upstream[0].url},
            ],
            "models": [
                {"name": "gpt-echo", "provider": "up", "upstream_model": "mock-echo"},
                {"name": "claude-echo", "provider": "up-anthropic", "upstream_model": "mock-echo"},
                {"name": "mock-*", "provider": "up"},
            ],
            "storage": {"url": "memory://", "counters_url": "memory://"},
            "layers": [{"type": "validate"}],
        }
    )
    with ServerThread(GatewayApp(Gateway(config))) as server:
        yield server


def raw_request(port: int, request_line: str, headers: dict[str, str], body: bytes) -> int:
    head = request_line + "\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1") + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0]
    return int(status_line.split(b" ")[1])


def _post(port: int, path: str, host: str = "127.0.0.1") -> int:
    return raw_request(
        port,
        f"POST {path} HTTP/1.1",
        {"Host": host, "Content-Type": "application/json"},
        CHAT_BODY,
    )


def test_the_real_route_reaches_the_upstream(
    gateway: ServerThread, upstream: tuple[ServerThread, RecordingUpstream]
) -> None:
    before = len(upstream[1].seen)
    assert _post(gateway.port, "/v1/chat/completions") == 200
    assert len(upstream[1].seen) == before + 1
    assert upstream[1].seen[-1].path == "/v1/chat/completions"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v1",
        "/v1/",
        "/v2/chat/completions",
        "/v1/chat",
        "/v1/chat/completion",
        "/v1/models/gpt-echo",
        "/v1/files",
        "/v1/audio/speech",
        "/v1/images/generations",
        "/v1/messages/count_tokens",
        "/v1/messages/batches",
        "/admin",
        "/healthz/",
    ],
)
def test_unknown_paths_are_404(
    gateway: ServerThread, upstream: tuple[ServerThread, RecordingUpstream], path: str
) -> None:
    before = len(upstream[1].seen)
    response = httpx.post(f"{gateway.url}{path}", content=CHAT_BODY, timeout=10)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_route"
    assert error["request_id"] == response.headers["x-request-id"]
    assert len(upstream[1].seen) == before


@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat/completions/",
        "//v1/chat/completions",
        "/v1//chat/completions",
        "/v1/./chat/completions",
        "/v1/../v1/chat/completions",
        "/V1/chat/completions",
        "/v1/Chat/Completions",
        "/v1/chat/completions;x",
        "/v1/chat/completions%00",
        "/v1/chat/completions%20",
        "/v1/chat/completions/.",
    ],
)
def test_route_confusion_is_404_and_never_reaches_the_upstream(
    gateway: ServerThread, upstream: tuple[ServerThread, RecordingUpstream], path: str
) -> None:
    before = len(upstream[1].seen)
    assert _post(gateway.port, path) == 404
    assert len(upstream[1].seen) == before


@pytest.mark.parametrize("path", ["/v1/%63hat/completions", "/v1/chat%2Fcompletions"])
def test_percent_encoded_route_spellings_are_404(
    gateway: ServerThread, upstream: tuple[ServerThread, RecordingUpstream], path: str
) -> None:
    before = len(upstream[1].seen)
    assert _post(gateway.port, path) == 404
    assert len(upstream[1].seen) == before


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/chat/completions", "POST"),
        ("PUT", "/v1/chat/completions", "POST"),
        ("DELETE", "/v1/embeddings", "POST"),
        ("PATCH", "/v1/responses", "POST"),
        ("GET", "/v1/completions", "POST"),
        ("POST", "/v1/models", "GET"),
        ("GET", "/v1/messages", "POST"),
    ],
)
def test_wrong_method_is_405_with_allow(
    gateway: ServerThread, method: str, path: str, allow: str
) -> None:
    response = httpx.request(method, f"{gateway.url}{path}", timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    body = response.json()
    error = body["error"]
    assert error["code"] == "method_not_allowed"
    if path == "/v1/messages":
        assert body["type"] == "error"
        assert body["request_id"] == response.headers["x-request-id"]
    else:
        assert error["request_id"] == response.headers["x-request-id"]


def test_host_header_never_changes_the_upstream(
    gateway: ServerThread,
    upstream: tuple[ServerThread, RecordingUpstream],
    bystander: tuple[ServerThread, RecordingUpstream],
) -> None:
    before = len(upstream[1].seen)
    for host in (f"127.0.0.1:{bystander[0].port}", "evil.example", "api.openai.com"):
        assert _post(gateway.port, "/v1/chat/completions", host=host) == 200
    status = raw_request(
        gateway.port,
        f"POST http://127.0.0.1:{bystander[0].port}/v1/chat/completions HTTP/1.1",
        {"Host": f"127.0.0.1:{bystander[0].port}", "Content-Type": "application/json"},
        CHAT_BODY,
    )
    assert status == 200
    assert bystander[1].seen == []
    reached = upstream[1].seen[before:]
    assert len(reached) == 4
    assert {seen.headers["host"] for seen in reached} == {f"127.0.0.1:{upstream[0].port}"}


def test_forwarding_headers_from_the_client_are_not_forwarded(
    gateway: ServerThread, upstream: tuple[ServerThread, RecordingUpstream]
) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        content=CHAT_BODY,
        headers={
            "content-type": "application/json",
            "authorization": "Bearer client-key-must-not-travel",
            "x-forwarded-host": "evil.example",
            "x-original-url": "/v1/files",
            "cookie": "session=1",
        },
        timeout=10,
    )
    assert response.status_code == 200
    sent = upstream[1].seen[-1].headers
    assert "authorization" not in sent
    assert not {"x-forwarded-host", "x-original-url", "cookie"} & set(sent)


@pytest.mark.parametrize(
    "query", ["?api-version=1", "?model=other&stream=true", "?url=http://evil.example/"]
)
def test_query_strings_are_never_forwarded(
    gateway: ServerThread, upstream: tuple[ServerThread, RecordingUpstream], query: str
) -> None:
    assert _post(gateway.port, f"/v1/chat/completions{query}") == 200
    seen = upstream[1].seen[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.query == b""


def test_anthropic_route_uses_its_own_upstream_path(
    gateway: ServerThread, upstream: tuple[ServerThread, RecordingUpstream]
) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/messages?beta=true",
        json={
            "model": "claude-echo",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}],
        },
        timeout=10,
    )
    assert response.status_code == 200
    seen = upstream[1].seen[-1]
    assert (seen.path, seen.query) == ("/v1/messages", b"")
    assert seen.headers["anthropic-version"] == "2023-06-01"


def test_health_endpoints(gateway: ServerThread) -> None:
    for path in ("/healthz", "/readyz"):
        response = httpx.get(f"{gateway.url}{path}", timeout=10)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def _duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate keys: {keys}")
    return dict(pairs)


def test_duplicate_json_keys_cannot_show_layers_and_upstream_different_text(
    gateway: ServerThread, upstream: tuple[ServerThread, RecordingUpstream]
) -> None:
    body = (
        b'{"model": "mock-echo",'  # no upstream rename, so the raw bytes are forwarded
        b' "messages": [{"role": "user", "content": "what the upstream sees"}],'
        b' "messages": [{"role": "user", "content": "what the layers see"}]}'
    )
    before = len(upstream[1].seen)
    status = raw_request(
        gateway.port,
        "POST /v1/chat/completions HTTP/1.1",
        {"Host": "x", "Content-Type": "application/json"},
        body,
    )
    if status == 400:
        assert len(upstream[1].seen) == before  # refused outright: also fine
        return
    json.loads(upstream[1].seen[-1].body, object_pairs_hook=_duplicate_keys)
