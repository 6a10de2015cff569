"""Property-based fuzzing of every proxy route, with every layer on: never a 5xx.

Bodies are valid requests with nodes swapped for any JSON value, removed or given siblings,
or any JSON value at all, or raw bytes under assorted content types. The gateway runs in
process (ASGI), with the built-in mock model upstream, SQLite storage and an audit trail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import TALLY, fuzz_settings
from tests.fuzz.strategies import json_values, mutated
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.identity.records import KeySpec
from vallum.proxy.app import GatewayApp

TOOL = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}
CALL = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
BASES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "model": "mock-echo",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "u"},
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "c", "content": "ok"},
        ],
        "tools": [TOOL],
        "max_tokens": 16,
        "stream": False,
    },
    "/v1/completions": {"model": "mock-fast", "prompt": ["hi"], "max_tokens": 8},
    "/v1/embeddings": {"model": "mock-embed", "input": ["hi", [1, 2]]},
    "/v1/responses": {
        "model": "mock-echo",
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call_output", "call_id": "c", "output": "ok"},
        ],
        "tools": [{"type": "function", "name": "f", "description": "d"}],
    },
    "/v1/messages": {
        "model": "mock-echo",
        "max_tokens": 16,
        "system": [{"type": "text", "text": "be brief"}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "document", "source": {"type": "text", "data": "doc"}},
                ],
            },
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
        ],
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
    },
}
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/vnd.api+json",
    "",
]


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    key: str

    def send(
        self, method: str, path: str, content: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        auth = {"authorization": f"Bearer {self.key}", "x-api-key": self.key}
        call = self.client.request(method, path, content=content, headers={**auth, **headers})
        response = self.loop.run_until_complete(call)
        TALLY["requests"] += 1
        if response.status_code >= 500:
            TALLY["server_errors"] += 1
        return response


def _config(root: Path) -> dict[str, Any]:
    return {
        "storage": {"url": f"sqlite:///{root}/vallum.db", "counters_url": "memory://"},
        "providers": [{"name": "mock", "type": "mock", "mock": {"chunks": 3}}],
        "models": [
            {"name": name, "provider": "mock"} for name in ("mock-fast", "mock-echo", "mock-embed")
        ]
        + [{"name": "mock-*", "provider": "mock"}],
        "layers": [
            {"type": "ipblock"},
            {"type": "anomaly", "dry_run": True},  # observes, never bans the fuzzer
            {"type": "authn"},
            {"type": "authz"},
            {"type": "ratelimit", "limits": [{"scope": "key", "requests_per_minute": 10**8}]},
            {"type": "validate"},
            {"type": "input_guard"},
            {"type": "output_filter"},
            {
                "type": "audit",
                "sinks": [{"type": "sqlite", "path": str(root / "audit.db")}],
                "spool": {"directory": str(root / "spool")},
                "signing_key_file": str(root / "audit.key"),
                "create_signing_key": True,
            },
        ],
    }


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    root = tmp_path_factory.mktemp("fuzz-proxy")
    gateway = Gateway(build_config(_config(root)))
    loop = asyncio.new_event_loop()

    async def start() -> str:
        await gateway.start()
        assert gateway.identity is not None
        record, issued = await gateway.identity.store.create_key(
            KeySpec(name="fuzz", roles=("user",)), actor="fuzz"
        )
        await gateway.identity.cache.refresh("key", record.public_id)
        return issued.reveal()

    key = loop.run_until_complete(start())
    transport = httpx.ASGITransport(app=GatewayApp(gateway), client=("127.0.0.1", 40000))
    client = httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30)
    try:
        yield Harness(loop, client, key)
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(gateway.stop())
        loop.close()


def _encode(body: Any) -> bytes:
    # the stdlib encoder: it writes integers of any size (orjson stops at 64 bits)
    return json.dumps(body).encode()


def _check(path: str, response: httpx.Response) -> None:
    assert response.status_code < 500, (path, response.status_code, response.text[:500])
    if response.status_code >= 400:
        error = response.json()
        if path == "/v1/messages":
            assert error["type"] == "error" and error["error"]["type"], error
        else:
            assert error["error"]["code"] and error["error"]["message"], error
        assert response.headers["x-request-id"]


@pytest.mark.parametrize("path", sorted(BASES))
@fuzz_settings(60)
@given(data=st.data())
def test_hostile_json_bodies_never_get_a_5xx(harness: Harness, path: str, data: Any) -> None:
    body = data.draw(st.one_of(mutated(BASES[path]), mutated(BASES[path]), json_values))
    response = harness.send("POST", path, _encode(body), {"content-type": "application/json"})
    _check(path, response)


@fuzz_settings(120)
@given(
    path=st.sampled_from([*sorted(BASES), "/v1/models", "/v1/nope", "/healthz"]),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    content=st.one_of(st.binary(max_size=256), st.just(b'{"model": "mock-echo"}')),
    content_type=st.sampled_from(CONTENT_TYPES),
    encoding=st.sampled_from(["", "gzip", "deflate", "br", "identity"]),
)
def test_hostile_raw_requests_never_get_a_5xx(
    harness: Harness, path: str, method: str, content: bytes, content_type: str, encoding: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    if encoding:
        headers["content-encoding"] = encoding
    response = harness.send(method, path, content, headers)
    assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
