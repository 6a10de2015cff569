"""RFC 7662 introspection end to end: a real loopback introspection server, the openai SDK."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import openai
import pytest

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.identity.model import AuthMethod
from vallum.layers.authn import Authn
from vallum.pipeline.exchange import Exchange
from vallum.proxy.app import GatewayApp

CLIENT_ID = "vallum-gw"
SECRET = "introspection-secret-for-tests-0123"
SECRET_ENV = "VALLUM_TEST_INTROSPECTION_SECRET"


@dataclass
class Introspection:
    """A tiny raw ASGI RFC 7662 server: answers from ``tokens``, counts every call."""

    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    bad_auth: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        form = parse_qs(body.decode())
        if headers.get(b"authorization") != f"Basic {expected}".encode():
            self.bad_auth += 1
            answer: dict[str, Any] = {"active": False}
        else:
            token = form["token"][0]
            assert form["token_type_hint"] == ["access_token"]
            assert headers[b"content-type"] == b"application/x-www-form-urlencoded"
            self.calls.append(token)
            answer = self.tokens.get(token, {"active": False})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


@dataclass
class Setup:
    proxy: ServerThread
    server: ServerThread
    app: Introspection
    exchanges: list[Exchange]

    def client(self, token: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.proxy.url}/v1", api_key=token, max_retries=0)


@pytest.fixture
def setup(upstream: ServerThread, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    app = Introspection()
    with ServerThread(app) as server:
        authn = {
            "type": "authn",
            "methods": ["introspection"],
            "introspection": {
                "endpoint": f"{server.url}/introspect",
                "client_id": CLIENT_ID,
                "client_secret_env": SECRET_ENV,
                "issuer": "https://idp.test",
                "audience": ["vallum"],
                "roles_claim": "roles",
                "team_claim": "team",
                "timeout": 1.0,
            },
        }
        gateway = Gateway(build_config(gateway_config(upstream.url, layers=[authn])))
        layer = gateway.pipeline.layers[0]
        assert isinstance(layer, Authn)
        exchanges: list[Exchange] = []
        original = layer.on_request

        async def recording(exchange: Exchange) -> Any:
            result = await original(exchange)
            exchanges.append(exchange)
            return result

        layer.on_request = recording  # type: ignore[method-assign]
        with ServerThread(GatewayApp(gateway)) as proxy:
            yield Setup(proxy, server, app, exchanges)


def _active(app: Introspection, **claims: Any) -> str:
    token = secrets.token_urlsafe(32)
    app.tokens[token] = {
        "active": True,
        "sub": "alice",
        "scope": "chat read",
        "roles": ["user"],
        "team": "ml",
        "iss": "https://idp.test",
        "aud": "vallum",
        "exp": int(time.time()) + 600,
        **claims,
    }
    return token


def _chat(setup: Setup, token: str) -> str | None:
    with setup.client(token) as client:
        reply = client.chat.completions.create(
            model="gpt-echo", messages=[{"role": "user", "content": "hi"}]
        )
    return reply.choices[0].message.content


def _rejected(setup: Setup, token: str) -> None:
    with setup.client(token) as client, pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(
            model="gpt-echo", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "invalid_api_key"
    assert caught.value.message.endswith("Invalid authentication credentials.")


def test_active_token_is_accepted_and_mapped(setup: Setup) -> None:
    token = _active(setup.app)
    assert _chat(setup, token) == "hi"
    identity = setup.exchanges[-1].identity
    assert identity is not None and identity.method is AuthMethod.INTROSPECTION
    assert identity.principal_id == "introspection:alice"
    assert identity.team == "ml" and identity.roles == {"user"}
    assert identity.scopes == {"chat", "read"}
    assert token not in identity.credential_id
    assert setup.app.calls == [token] and setup.app.bad_auth == 0


def test_second_call_is_served_from_the_cache(setup: Setup) -> None:
    token = _active(setup.app)
    assert _chat(setup, token) == "hi"
    assert _chat(setup, token) == "hi"
    assert setup.app.calls == [token]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"active": False}, "inactive"),
        ({"active": "true"}, "inactive"),
        ({"exp": int(time.time()) - 5}, "expired"),
        ({"iss": "https://evil.test"}, "wrong_issuer"),
        ({"aud": ["other"]}, "wrong_audience"),
        ({"sub": None}, "no_subject"),
    ],
)
def test_rejections_are_generic_and_negatively_cached(
    setup: Setup, claims: dict[str, Any], reason: str
) -> None:
    token = _active(setup.app, **claims)
    _rejected(setup, token)
    _rejected(setup, token)
    assert setup.app.calls == [token]  # the second rejection came from the negative cache
    finding = setup.exchanges[-1].findings[-1]
    assert (finding.kind, finding.detail) == ("auth_failed", reason)


def test_unknown_token_and_jwt_shapes_and_keys(setup: Setup) -> None:
    _rejected(setup, "never-issued-token")
    assert setup.app.calls == ["never-issued-token"]
    _rejected(setup, "vk_abcdefghijklmnop_secretsecret")  # a Vallum key is never sent out
    assert setup.app.calls == ["never-issued-token"]


def test_server_down_cached_token_works_new_token_fails(setup: Setup) -> None:
    cached = _active(setup.app)
    fresh = _active(setup.app)
    assert _chat(setup, cached) == "hi"
    setup.server.__exit__()
    assert _chat(setup, cached) == "hi"
    _rejected(setup, fresh)
    assert setup.exchanges[-1].findings[-1].detail == "introspection_unavailable"
    assert setup.app.calls == [cached]


def test_token_never_in_logs_or_exchange(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good = _active(setup.app)
    bad = _active(setup.app, active=False)
    assert _chat(setup, good) == "hi"
    _rejected(setup, bad)
    setup.server.__exit__()
    down = _active(setup.app)
    _rejected(setup, down)
    server_side = [
        r.getMessage() + repr(r.__dict__)
        for r in caplog.records
        if r.name.startswith(("vallum", "uvicorn"))
    ]
    dumped = [repr(ex) for ex in setup.exchanges]
    assert len(dumped) == 3
    for token in (good, bad, down):
        assert all(token not in line for line in server_side)
        assert all(token not in text for text in dumped)
