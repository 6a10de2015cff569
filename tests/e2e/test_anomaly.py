"""An extraction burst through the real gateway with the openai SDK: key revoked, range blocked."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.e2e.conftest import gateway_config
from tests.e2e.test_identity import ADMIN_TOKEN
from tests.support.servers import ServerThread
from vallum.admin.app import AdminApp
from vallum.admin.config import hash_token
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp


@pytest.fixture(scope="module")
def anomaly_gateway(upstream: ServerThread) -> Iterator[tuple[ServerThread, ServerThread]]:
    config = gateway_config(
        upstream.url,
        server={"trusted_proxies": ["127.0.0.1/32"]},  # the test plays the load balancer
        layers=[
            {"type": "ipblock"},
            # small thresholds keep the test fast: 12 prompts make a window
            {"type": "anomaly", "thresholds": {"extraction_events": 12, "extraction_fast_rate": 5}},
            {"type": "authn"},
            {"type": "authz"},
            {"type": "validate"},
        ],
        admin={
            "enabled": True,
            "token_env": "VALLUM_TEST_NO_SUCH_ENV",
            "credentials": [{"name": "root", "token_sha256": hash_token(ADMIN_TOKEN)}],
        },
    )
    gateway = Gateway(build_config(config))
    with ServerThread(GatewayApp(gateway)) as proxy, ServerThread(AdminApp(gateway)) as admin:
        yield proxy, admin


def test_extraction_burst_revokes_the_key_then_blocks_the_range(
    anomaly_gateway: tuple[ServerThread, ServerThread],
) -> None:
    proxy, admin = anomaly_gateway
    with httpx.Client(base_url=admin.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        created = c.post("/v1/keys", json={"roles": ["user"]}).json()
    key, key_id = created["key"], created["id"]
    rng = random.Random(4)
    templates = [
        "What is the {} of {}?",
        "Give the {} of {} only.",
        "Q: {} {}? A:",
        "Define {} as {}.",
    ]
    outcome: list[str] = []
    campaign = {"x-forwarded-for": "203.0.113.50"}  # RFC 5737 documentation range
    with openai.OpenAI(
        base_url=f"{proxy.url}/v1", api_key=key, max_retries=0, default_headers=campaign
    ) as client:
        for _ in range(80):
            prompt = rng.choice(templates).format(
                rng.choice("abcdefgh"), f"item{rng.randint(1, 999)}"
            )
            try:
                client.chat.completions.create(
                    model="gpt-echo",
                    messages=[{"role": "user", "content": prompt}],
                    temperature=rng.choice([0.0, 1.0, 2.0]),
                    logprobs=True,
                    top_logprobs=rng.choice([5, 20]),
                )
                outcome.append("ok")
            except openai.AuthenticationError:
                outcome.append("401")
            except openai.PermissionDeniedError as error:
                assert error.code == "ip_blocked"
                outcome.append("403")
                break
            time.sleep(0.01)
    assert outcome[0] == "ok"
    # once the campaign's /24 is blocked, every call from it gets 403
    assert outcome[-1] == "403", outcome
    with httpx.Client(base_url=admin.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        assert c.get(f"/v1/keys/{key_id}").json()["state"] == "revoked"
    with httpx.Client(base_url=proxy.url) as raw:
        reply = raw.get("/v1/models", headers={**campaign, "authorization": f"Bearer {key}"})
        assert reply.status_code == 403 and reply.json()["error"]["code"] == "ip_blocked"
        # the load balancer's own address is no campaign range: it is never blocked
        other = raw.get("/v1/models", headers={"x-forwarded-for": "198.51.100.20"})
        assert other.status_code == 401


def test_admin_api_blocks_and_lists_incidents() -> None:
    """The admin API manages blocks and incidents like the CLI, and documents them."""
    TOKEN = "adm-test-token-0123456789abcdef"
    import httpx

    from tests.support.servers import ServerThread
    from vallum.admin.app import AdminApp
    from vallum.admin.config import hash_token
    from vallum.config import build_config
    from vallum.gateway import Gateway
    from vallum.proxy.app import GatewayApp

    config = build_config(
        {
            "storage": {"url": "memory://", "counters_url": "memory://"},
            "providers": [{"name": "mock", "type": "mock"}],
            "models": [{"name": "mock-echo", "provider": "mock"}],
            "admin": {"credentials": [{"name": "ops", "token_sha256": hash_token(TOKEN)}]},
            "layers": [{"type": "ipblock"}, {"type": "anomaly"}],
        }
    )
    gateway = Gateway(config)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with ServerThread(GatewayApp(gateway)), ServerThread(AdminApp(gateway)) as admin:
        added = httpx.post(f"{admin.url}/v1/blocks", json={"cidr": "203.0.113.0/24"}, headers=auth)
        assert added.status_code == 201, added.text
        listed = httpx.get(f"{admin.url}/v1/blocks", headers=auth).json()["data"]
        assert any(row["target"] == "203.0.113.0/24" for row in listed)
        bad = httpx.post(f"{admin.url}/v1/blocks", json={"cidr": "not-an-ip"}, headers=auth)
        assert bad.status_code == 400
        assert httpx.get(f"{admin.url}/v1/incidents", headers=auth).json() == {"data": []}
        assert httpx.get(f"{admin.url}/v1/blocks").status_code == 401
        removed = httpx.delete(
            f"{admin.url}/v1/blocks", params={"cidr": "203.0.113.0/24"}, headers=auth
        )
        assert removed.status_code == 200
        paths = httpx.get(f"{admin.url}/openapi.json").json()["paths"]
        assert "/v1/incidents/{id}/resolve" in paths and "/v1/blocks" in paths
