"""API keys end to end: the real gateway and admin listener, driven by the openai/anthropic SDKs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread
from vallum.admin.app import AdminApp
from vallum.admin.config import hash_token
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
TEAM_TOKEN = "team-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def identity_gateway(upstream: ServerThread) -> Iterator[tuple[ServerThread, ServerThread]]:
    config = gateway_config(
        upstream.url,
        layers=[{"type": "authn"}, {"type": "authz"}, {"type": "validate"}],
        admin={
            "enabled": True,
            "token_env": "VALLUM_TEST_NO_SUCH_ENV",
            "credentials": [
                {"name": "root", "token_sha256": hash_token(ADMIN_TOKEN)},
                {"name": "ml-admin", "token_sha256": hash_token(TEAM_TOKEN), "team": "ml"},
            ],
        },
    )
    gateway = Gateway(build_config(config))
    with ServerThread(GatewayApp(gateway)) as proxy, ServerThread(AdminApp(gateway)) as admin:
        yield proxy, admin


def _admin(admin: ServerThread, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(base_url=admin.url, headers={"authorization": f"Bearer {token}"}, timeout=5)


def _create(admin: ServerThread, **spec: Any) -> dict[str, Any]:
    with _admin(admin) as client:
        reply = client.post("/v1/keys", json={"roles": ["user"], **spec})
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_openai_sdk_with_a_key(identity_gateway: tuple[ServerThread, ServerThread]) -> None:
    proxy, admin = identity_gateway
    key = _create(admin)["key"]
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=key, max_retries=0) as client:
        reply = client.chat.completions.create(
            model="gpt-echo", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == "hi"


def test_openai_sdk_wrong_key_and_forbidden_model(
    identity_gateway: tuple[ServerThread, ServerThread],
) -> None:
    proxy, admin = identity_gateway
    key = _create(admin, allowed_models=["claude-*"])["key"]
    wrong = key[:-1] + ("a" if key[-1] != "a" else "b")
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=wrong, max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.models.list()
        assert caught.value.code == "invalid_api_key"
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=key, max_retries=0) as client:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            client.chat.completions.create(
                model="gpt-echo", messages=[{"role": "user", "content": "hi"}]
            )
        assert denied.value.code == "model_not_allowed"
        listed = {model.id for model in client.models.list()}
        assert listed and all(name.startswith("claude-") for name in listed)


def test_unauthenticated_malformed_body_gets_401_not_a_parse_error(
    identity_gateway: tuple[ServerThread, ServerThread],
) -> None:
    proxy, _ = identity_gateway
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_anthropic_sdk_x_api_key(identity_gateway: tuple[ServerThread, ServerThread]) -> None:
    proxy, admin = identity_gateway
    key = _create(admin)["key"]
    with anthropic.Anthropic(base_url=proxy.url, api_key=key, max_retries=0) as client:
        reply = client.messages.create(
            model="claude-echo", max_tokens=16, messages=[{"role": "user", "content": "hey"}]
        )
        assert reply.content[0].text == "hey"  # type: ignore[union-attr]
    with anthropic.Anthropic(base_url=proxy.url, api_key="vk_nope", max_retries=0) as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            client.messages.create(
                model="claude-echo", max_tokens=16, messages=[{"role": "user", "content": "x"}]
            )
        assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_key_in_query_string_is_rejected_and_never_logged(
    identity_gateway: tuple[ServerThread, ServerThread], caplog: pytest.LogCaptureFixture
) -> None:
    proxy, admin = identity_gateway
    key = _create(admin)["key"]
    caplog.set_level(logging.DEBUG)
    body = {"model": "gpt-echo", "messages": [{"role": "user", "content": "hi"}]}
    for param in ("api-key", "api_key", "key", "x-api-key"):
        reply = httpx.post(
            f"{proxy.url}/v1/chat/completions", params={param: key}, json=body, timeout=5
        )
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "invalid_api_key"
        assert key not in reply.text
    server_side = [
        r.getMessage() + repr(r.__dict__)
        for r in caplog.records
        if r.name.startswith(("vallum", "uvicorn"))  # not the test's own HTTP client
    ]
    assert all(key.split("_")[2] not in line for line in server_side)


def test_revocation_and_rotation_via_admin_api(
    identity_gateway: tuple[ServerThread, ServerThread],
) -> None:
    proxy, admin = identity_gateway
    created = _create(admin)
    key, public_id = created["key"], created["id"]
    with _admin(admin) as client:
        rotated = client.post(f"/v1/keys/{public_id}/rotate", json={"grace_seconds": 0}).json()
    new_key = rotated["key"]
    headers = {"authorization": f"Bearer {new_key}"}
    assert httpx.get(f"{proxy.url}/v1/models", headers=headers, timeout=5).status_code == 200
    old = httpx.get(f"{proxy.url}/v1/models", headers={"x-api-key": key}, timeout=5)
    assert old.status_code == 401  # grace 0: the old secret stops at once
    with _admin(admin) as client:
        assert client.post(f"/v1/keys/{public_id}/revoke").status_code == 200
        shown = client.get(f"/v1/keys/{public_id}").json()
    assert shown["state"] == "revoked" and "secrets" not in shown
    assert httpx.get(f"{proxy.url}/v1/models", headers=headers, timeout=5).status_code == 401


def test_admin_api_auth_object_checks_and_openapi(
    identity_gateway: tuple[ServerThread, ServerThread],
) -> None:
    _, admin = identity_gateway
    assert httpx.get(f"{admin.url}/v1/keys", timeout=5).status_code == 401
    with _admin(admin, "wrong-token") as client:
        assert client.get("/v1/keys").status_code == 401
    with _admin(admin) as client:
        assert client.post("/v1/teams", json={"name": "ml", "roles": ["user"]}).status_code == 200
        other = _create(admin)["id"]
    with _admin(admin, TEAM_TOKEN) as client:
        mine = client.post("/v1/keys", json={"roles": ["user"]}).json()
        assert mine["record"]["team"] == "ml"
        assert client.get(f"/v1/keys/{other}").status_code == 404  # another team's key
        assert client.post(f"/v1/keys/{other}/revoke").status_code == 404
        assert {k["public_id"] for k in client.get("/v1/keys").json()["data"]} == {mine["id"]}
        assert client.post("/v1/roles", json={"name": "x"}).status_code == 403
    with _admin(admin) as client:
        trail = client.get("/v1/audit").json()["data"]
    assert {"actor": "admin:ml-admin", "action": "key.create"} in [
        {"actor": e["actor"], "action": e["action"]} for e in trail
    ]
    document = httpx.get(f"{admin.url}/openapi.json", timeout=5).json()
    assert document["openapi"].startswith("3.")
    assert "post" in document["paths"]["/v1/keys"]
    assert "KeySpec" in document["components"]["schemas"]
    assert httpx.get(f"{admin.url}/healthz", timeout=5).json() == {"status": "ok"}
    assert httpx.get(f"{admin.url}/metrics", timeout=5).status_code in (200, 404)


def test_cli_change_reaches_the_running_gateway(
    identity_gateway: tuple[ServerThread, ServerThread],
) -> None:
    """A change made by another writer (not this process's admin API) is picked up."""
    proxy, admin = identity_gateway
    created = _create(admin)
    headers = {"x-api-key": created["key"]}
    assert httpx.get(f"{proxy.url}/v1/models", headers=headers, timeout=5).status_code == 200
    with _admin(admin) as client:
        client.post(f"/v1/keys/{created['id']}/revoke")
    deadline = time.monotonic() + 3
    status = 200
    while time.monotonic() < deadline and status != 401:
        status = httpx.get(f"{proxy.url}/v1/models", headers=headers, timeout=5).status_code
    assert status == 401
