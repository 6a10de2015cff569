"""Hostile clients at the request and admin level: what any key holder or team admin may try.

Each test is one finding of a hostile-client review, against the real gateway and admin
listener on loopback, driven by the official SDKs (or raw HTTP where no SDK would send it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import openai
import pytest

from tests.support.servers import ServerThread, free_port
from vallum.admin.app import AdminApp
from vallum.admin.config import hash_token
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.observability.metrics import GatewayMetrics
from vallum.proxy.app import GatewayApp

ADMIN_TOKEN = "hostile-admin-token-0123456789"
TEAM_TOKEN = "hostile-team-token-0123456789"
USER = [{"role": "user", "content": "route me"}]
# USD per 1M tokens: the primary, the fallback the caller may not use, the one it may
PRICES = [
    {"model": "basic", "input_per_million": 1.0, "output_per_million": 1.0},
    {"model": "premium", "input_per_million": 500.0, "output_per_million": 500.0},
    {"model": "cheap", "input_per_million": 100.0, "output_per_million": 100.0},
]


@dataclass
class Site:
    gateway: Gateway
    proxy: ServerThread
    admin: ServerThread
    audit_dir: Path

    def admin_client(self, token: str = ADMIN_TOKEN) -> httpx.Client:
        return httpx.Client(
            base_url=self.admin.url, headers={"authorization": f"Bearer {token}"}, timeout=10
        )

    def key(self, **spec: Any) -> str:
        with self.admin_client() as client:
            reply = client.post("/v1/keys", json=spec)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["key"])

    def openai(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.proxy.url}/v1", api_key=key, max_retries=0)

    def records(self) -> list[dict[str, Any]]:
        lines: list[str] = []
        for path in sorted((self.audit_dir / "jsonl").glob("audit-*.jsonl")):
            lines += path.read_text(encoding="utf-8").splitlines()
        return [r for r in map(json.loads, lines) if r.get("type") == "request"]


def _config(upstream_url: str, audit_dir: Path) -> dict[str, Any]:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    return {
        "providers": [
            {"name": "up", "type": "openai", "base_url": f"{upstream_url}/v1"},
            {"name": "dead", "type": "openai", "base_url": dead},
        ],
        "models": [
            {"name": "basic", "provider": "dead", "fallbacks": ["premium", "cheap"]},
            {"name": "lonely", "provider": "dead", "fallbacks": ["premium"]},
            {"name": "premium", "provider": "up", "upstream_model": "mock-echo"},
            {"name": "cheap", "provider": "up", "upstream_model": "mock-echo"},
            {"name": "mock-*", "provider": "up"},
        ],
        "timeouts": {"read": 2.0, "total": 5.0, "stream_idle": 2.0},
        "storage": {"url": "memory://", "counters_url": "memory://"},
        "layers": [
            {"type": "authn"},
            {"type": "authz"},
            {"type": "validate"},
            {"type": "ratelimit", "prices": PRICES},
            {
                "type": "audit",
                "sinks": [{"type": "jsonl", "directory": str(audit_dir / "jsonl")}],
                "spool": {"directory": str(audit_dir / "spool")},
                "hash_key_env": "VALLUM_TEST_AUDIT_HASH_KEY",
                "log_format": "keep",
            },
        ],
        "admin": {
            "enabled": True,
            "token_env": "VALLUM_TEST_NO_SUCH_ENV",
            "credentials": [
                {"name": "root", "token_sha256": hash_token(ADMIN_TOKEN)},
                {"name": "ml-admin", "token_sha256": hash_token(TEAM_TOKEN), "team": "ml"},
            ],
        },
    }


@pytest.fixture(scope="module")
def site(upstream: ServerThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    audit_dir = tmp_path_factory.mktemp("hostile-audit")
    gateway = Gateway(build_config(_config(upstream.url, audit_dir)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VALLUM_TEST_AUDIT_HASH_KEY", "hostile-audit-hash-key")
        with ServerThread(GatewayApp(gateway)) as proxy, ServerThread(AdminApp(gateway)) as admin:
            site = Site(gateway, proxy, admin, audit_dir)
            _roles(site)
            yield site


def _roles(site: Site) -> None:
    basic = [{"actions": ["chat", "models:list"], "models": ["basic", "cheap", "mock-*"]}]
    roles = {"basic": basic, "lonely": [{"actions": ["chat"], "models": ["lonely"]}]}
    with site.admin_client() as client:
        for name, permissions in roles.items():
            reply = client.post("/v1/roles", json={"name": name, "permissions": permissions})
            assert reply.status_code == 200, reply.text


def _wait_for_record(site: Site, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in site.records() if r["request_id"] == request_id]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no audit record for {request_id}")


# -- fallbacks never widen what a key may reach ------------------------------------------


def test_a_fallback_the_key_may_not_use_is_skipped(site: Site) -> None:
    with site.openai(site.key(roles=["basic"])) as client:
        raw = client.chat.completions.with_raw_response.create(model="basic", messages=USER)  # type: ignore[arg-type]
    reply = raw.parse()
    assert reply.choices[0].message.content == "route me"
    record = _wait_for_record(site, raw.headers["x-request-id"])
    assert "fallback:premium:not_permitted" in record["routing"]
    assert "fallback:cheap" in record["routing"]
    # priced and recorded as the model that served, not the one asked for
    assert record["model"] == "cheap" and record["requested_model"] == "basic"
    tokens = record["tokens"]
    expected = (tokens["in"] + tokens["out"]) * 100.0 / 1_000_000
    assert record["cost_usd"] == pytest.approx(expected)


def test_no_permitted_fallback_means_the_primary_failure(site: Site) -> None:
    with (
        site.openai(site.key(roles=["lonely"])) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(model="lonely", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502


def test_models_listing_shows_only_permitted_models(site: Site) -> None:
    with site.openai(site.key(roles=["basic"])) as client:
        listed = {model.id for model in client.models.list()}
    assert listed == {"basic", "cheap"}


# -- metric labels are configured route names -----------------------------------------


def test_client_chosen_model_names_never_become_metric_labels(site: Site) -> None:
    with site.openai(site.key(roles=["basic"])) as client:
        for index in range(20):
            client.chat.completions.create(model=f"mock-probe-{index}", messages=USER)  # type: ignore[arg-type]
    metrics = site.gateway.metrics  # type: ignore[attr-defined]
    assert isinstance(metrics, GatewayMetrics)
    text = metrics.render().decode()
    assert "mock-probe" not in text
    assert 'model="mock-*"' in text


# -- type-confused JSON is a 400 in the wire format, never a 500 ----------------------

_HI = {"role": "user", "content": "hi"}
TYPE_CONFUSED = [
    # (path, body): well-formed JSON, wrong types where a parser expects a shape
    ("/v1/chat/completions", {"messages": [{"role": "assistant", "tool_calls": 5}, _HI]}),
    ("/v1/chat/completions", {"messages": [{"role": "assistant", "tool_calls": [5]}, _HI]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": []}]}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": {}}]}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi", "name": 5}]}),
    ("/v1/chat/completions", {"messages": [_HI], "tools": [{"type": "function", "function": 5}]}),
    (
        "/v1/chat/completions",
        {"messages": [_HI], "tools": [{"function": {"name": "f", "description": []}}]},
    ),
    ("/v1/chat/completions", {"messages": [_HI], "tools": 5}),
    ("/v1/responses", {"input": [{"type": []}]}),
    ("/v1/responses", {"input": [{"type": {}, "role": "user", "content": "x"}]}),
    ("/v1/responses", {"input": "hi", "tools": [{"type": "function", "description": 5}]}),
    ("/v1/messages", {"max_tokens": 8, "messages": [{"role": "user", "content": [{"type": {}}]}]}),
    ("/v1/messages", {"max_tokens": 8, "messages": [_HI], "system": [{"type": []}]}),
    ("/v1/messages", {"max_tokens": 8, "messages": [_HI], "tools": [{"description": {}}]}),
    (
        "/v1/messages",
        {
            "max_tokens": 8,
            "messages": [
                {"role": "user", "content": [{"type": "document", "source": {"type": []}}]}
            ],
        },
    ),
]


@pytest.mark.parametrize(("path", "body"), TYPE_CONFUSED)
def test_type_confused_json_is_a_wire_format_400(
    site: Site, path: str, body: dict[str, Any]
) -> None:
    key = site.key(roles=["user"])
    model = "claude-x" if path == "/v1/messages" else "basic"
    reply = httpx.post(
        f"{site.proxy.url}{path}",
        json={"model": model, **body},
        headers={"authorization": f"Bearer {key}", "x-api-key": key},
        timeout=10,
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()
    if path == "/v1/messages":
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    else:
        assert error["error"]["type"] == "invalid_request_error" and error["error"]["code"]
    assert reply.headers["x-request-id"]


# -- a team admin grants only what its team holds -------------------------------------


@pytest.fixture(scope="module")
def ml_team(site: Site) -> None:
    with site.admin_client() as client:
        team = {"name": "ml", "roles": ["basic"], "quota": {"requests_per_minute": 100}}
        reply = client.post("/v1/teams", json=team)
    assert reply.status_code == 200, reply.text


TEAM_GRANTS = [
    # (key spec a team admin asks for, expected status)
    ({"roles": ["user"]}, 403),  # a role the team does not hold reaches every model
    ({"roles": ["basic", "lonely"]}, 403),
    ({"quota": {"requests_per_minute": 1000}}, 403),  # above the team's own quota
    ({"quota": {"tokens_per_day": 5}}, 403),  # a quota the team has no value for
    ({"roles": ["basic"]}, 201),
    ({"roles": ["basic"], "quota": {"requests_per_minute": 100}}, 201),
    ({}, 201),
]


@pytest.mark.parametrize(("spec", "status"), TEAM_GRANTS)
@pytest.mark.usefixtures("ml_team")
def test_a_team_admin_grants_only_what_its_team_holds(
    site: Site, spec: dict[str, Any], status: int
) -> None:
    with site.admin_client(TEAM_TOKEN) as client:
        reply = client.post("/v1/keys", json=spec)
    assert reply.status_code == status, reply.text
    if status == 403:
        assert reply.json()["error"]["code"] == "admin_scope"
    else:
        assert reply.json()["record"]["team"] == "ml"


# -- the admin API: strict parameters and bodies, honest statuses ----------------------

ADMIN_BAD_REQUESTS = [
    ("GET", "/v1/audit?after=abc", None),
    ("GET", "/v1/audit?after=-1", None),
    ("GET", "/v1/incidents?limit=abc", None),
    ("GET", "/v1/incidents?status=bogus", None),
    ("GET", "/v1/incidents?limit=5&limit=6", None),
    ("GET", "/v1/keys?no_such_param=1", None),
    ("DELETE", "/v1/blocks", None),
    ("POST", "/v1/keys", b""),  # no body: no key made of defaults
    ("POST", "/v1/keys", b"[]"),
    ("POST", "/v1/keys", b'{"quota": {"requests_per_minute": true}}'),
    ("POST", "/v1/keys", b'{"quota": {"requests_per_minute": "5"}}'),
    ("POST", "/v1/blocks", b'{"cidr": "10.0.0.0/8", "ttl": true}'),
]


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_BAD_REQUESTS)
def test_bad_admin_requests_are_400_with_the_error_shape(
    site: Site, method: str, url: str, body: bytes | None
) -> None:
    with site.admin_client() as client:
        reply = client.request(method, url, content=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] and error["message"]


def test_405_names_the_allowed_methods(site: Site) -> None:
    with site.admin_client() as client:
        reply = client.put("/v1/keys")
    assert reply.status_code == 405
    assert set(reply.headers["allow"].split(", ")) == {"GET", "POST"}
    assert reply.json()["error"]["code"] == "method_not_allowed"


def test_openapi_documents_the_query_parameters(site: Site) -> None:
    document = httpx.get(f"{site.admin.url}/openapi.json", timeout=10).json()
    paths = document["paths"]

    def query(path: str, method: str) -> dict[str, Any]:
        params = paths[path][method].get("parameters", [])
        return {p["name"]: p for p in params if p["in"] == "query"}

    assert query("/v1/audit", "get")["after"]["schema"]["type"] == "integer"
    incidents = query("/v1/incidents", "get")
    assert incidents["limit"]["schema"]["maximum"] == 500
    assert incidents["status"]["schema"]["enum"] == ["open", "resolved"]
    assert query("/v1/blocks", "delete")["cidr"]["required"] is True
    assert "team" in query("/v1/keys", "get")
    assert paths["/v1/keys"]["post"]["requestBody"]["required"] is True


@pytest.mark.postgres
async def test_admin_with_its_store_down_answers_503(
    postgres_url: str, unique_prefix: str, upstream: ServerThread
) -> None:
    from tests.unit.ratelimit.tcp_proxy import TcpProxy
    from vallum.identity.service import open_identity
    from vallum.storage import open_storage

    proxy = TcpProxy(urlsplit(postgres_url).port or 5432).start()
    proxied = urlsplit(postgres_url)._replace(netloc=f"postgres@127.0.0.1:{proxy.port}")
    storage = await open_storage(urlunsplit(proxied), namespace=unique_prefix)
    gateway = Gateway(build_config(_config(upstream.url, Path("/nonexistent"))))
    gateway._storage = gateway._counters = storage  # the admin API over this store only
    gateway.identity = open_identity(storage, storage, gateway.clock)
    transport = httpx.ASGITransport(app=AdminApp(gateway))
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
            made = await client.post("/v1/keys", json={"roles": ["user"]}, headers=auth)
            assert made.status_code == 201, made.text
            proxy.stop()  # PostgreSQL is gone for this gateway
            for method, url in (
                ("POST", f"/v1/keys/{made.json()['id']}/revoke"),
                ("GET", "/v1/keys"),
                ("GET", "/v1/audit"),
            ):
                reply = await client.request(method, url, headers=auth)
                assert reply.status_code == 503, reply.text
                assert reply.json()["error"]["code"] == "storage_unavailable"
    finally:
        proxy.stop()
        proxy.start()
        await storage.drop_namespace()
        await storage.close()
        proxy.stop()


# -- parts floods ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [16_000, 100_000])
def test_a_flood_of_tiny_parts_is_refused(site: Site, count: int) -> None:
    key = site.key(roles=["user"])
    parts = [{"type": "text", "text": "a"}] * count
    body = {"model": "basic", "messages": [{"role": "user", "content": parts}]}
    reply = httpx.post(
        f"{site.proxy.url}/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "too_many_parts"
    health = httpx.get(f"{site.proxy.url}/healthz", timeout=10)
    assert health.status_code == 200
