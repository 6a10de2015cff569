"""JWT bearer tokens against a real JWKS server on loopback: the issue's attack table."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests.support.servers import ServerThread
from vallum.clock import FakeClock
from vallum.identity.jwt import IssuerConfig, JwtVerifier
from vallum.providers.base import UpstreamRequest
from vallum.proxy.http_client import HttpClient

ISSUER = "https://idp.test"
AUDIENCE = "vallum"


class JwksApp:
    """Serves whatever key set the test puts in ``document``."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.hits = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.hits += 1
        body = orjson.dumps(self.document)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}),
        "rsa2": RSAKey.generate_key(2048, parameters={"kid": "rsa-2"}),
        "ec": ECKey.generate_key("P-256", parameters={"kid": "ec-1"}),
    }


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[tuple[ServerThread, JwksApp]]:
    app = JwksApp()
    with ServerThread(app) as server:
        yield server, app


@pytest.fixture
async def verifier(
    jwks_server: tuple[ServerThread, JwksApp], keys: dict[str, Any]
) -> AsyncIterator[tuple[JwtVerifier, JwksApp, FakeClock]]:
    server, app = jwks_server
    app.document = KeySet([keys["rsa"], keys["ec"]]).as_dict(private=False)
    client = HttpClient(connect_timeout=2, read_timeout=2, max_response_bytes=1 << 20)

    async def fetch(url: str) -> bytes:
        response = await client.request(UpstreamRequest("GET", url, [], b""))
        return response.body

    clock = FakeClock(start=1_700_000_000.0)
    config = IssuerConfig(
        name="idp",
        issuer=ISSUER,
        jwks_url=f"{server.url}/jwks",
        audience=(AUDIENCE,),
        roles_claim="roles",
        team_claim="org",
        min_refresh_interval=5,
    )
    verifier = JwtVerifier([config], fetch, clock)
    await verifier.start()
    try:
        yield verifier, app, clock
    finally:
        await verifier.stop()
        await client.close()


def _claims(clock: FakeClock, **extra: Any) -> dict[str, Any]:
    now = int(clock.now())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "scope": "vallum.chat other",
        "roles": ["user"],
        "org": "ml",
        **extra,
    }


def _sign(key: Any, claims: dict[str, Any], alg: str = "RS256", **header: Any) -> str:
    return jwt.encode({"alg": alg, "kid": key.kid, **header}, claims, key, algorithms=[alg])


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_valid_tokens_map_claims(verifier: Any, keys: dict[str, Any]) -> None:
    v, _, clock = verifier
    for key, alg in ((keys["rsa"], "RS256"), (keys["rsa"], "PS256"), (keys["ec"], "ES256")):
        identity, reason = await v.verify(_sign(key, _claims(clock), alg))
        assert reason == "ok" and identity is not None
        assert identity.principal_id == "idp:alice" and identity.team == "ml"
        assert identity.scopes == {"vallum.chat", "other"} and identity.roles == {"user"}


def _attacks(keys: dict[str, Any], clock: FakeClock) -> dict[str, str]:
    rsa = keys["rsa"]
    good = _claims(clock)
    public_pem = rsa.as_pem(private=False)
    signing_input = f"{_b64({'alg': 'HS256', 'kid': 'rsa-1'})}.{_b64(good)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged_hs256 = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    rogue = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    return {
        "alg none": f"{_b64({'alg': 'none', 'kid': 'rsa-1'})}.{_b64(good)}.",
        "HS256 with the RSA public key": forged_hs256,
        "unknown kid": _sign(RSAKey.generate_key(2048, parameters={"kid": "zzz"}), good),
        "kid path trick": _sign(rsa, good, kid="../../../../dev/null"),
        "forged with same kid": _sign(rogue, good),
        "expired": _sign(rsa, _claims(clock, exp=int(clock.now()) - 3600)),
        "not yet valid": _sign(rsa, _claims(clock, nbf=int(clock.now()) + 3600)),
        "wrong audience": _sign(rsa, _claims(clock, aud="someone-else")),
        "wrong issuer": _sign(rsa, _claims(clock, iss="https://evil.test")),
        "no subject": _sign(rsa, {k: v for k, v in good.items() if k != "sub"}),
        "garbage": "a.b.c",
    }


async def test_attack_table_is_rejected(verifier: Any, keys: dict[str, Any]) -> None:
    v, _, clock = verifier
    for name, token in _attacks(keys, clock).items():
        identity, reason = await v.verify(token)
        assert identity is None, name
        assert reason != "ok", name


async def test_unknown_kid_refresh_is_rate_limited(verifier: Any, keys: dict[str, Any]) -> None:
    v, app, clock = verifier
    before = app.hits
    token = _sign(keys["rsa2"], _claims(clock))
    clock.advance(10)
    assert (await v.verify(token))[0] is None  # one refresh
    assert (await v.verify(token))[0] is None  # within min_refresh_interval: no fetch
    assert app.hits == before + 1


async def test_key_rotation_in_and_out(verifier: Any, keys: dict[str, Any]) -> None:
    v, app, clock = verifier
    old = _sign(keys["rsa"], _claims(clock))
    assert (await v.verify(old))[0] is not None
    app.document = KeySet([keys["rsa2"]]).as_dict(private=False)  # rsa-1 rotated out
    new = _sign(keys["rsa2"], _claims(clock))
    clock.advance(10)
    assert (await v.verify(new))[0] is not None  # unknown kid -> refresh -> accepted
    assert (await v.verify(old))[0] is None  # memo forgotten with the JWKS change


async def test_unreachable_jwks_keeps_cached_keys(verifier: Any, keys: dict[str, Any]) -> None:
    v, app, clock = verifier
    app.document = {"keys": "not-a-list"}  # a broken JWKS endpoint
    clock.advance(10)
    assert (await v.verify(_sign(keys["rsa2"], _claims(clock))))[0] is None  # fail closed
    assert (await v.verify(_sign(keys["rsa"], _claims(clock))))[0] is not None
