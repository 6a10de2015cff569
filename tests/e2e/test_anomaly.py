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
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=key, max_retries=0) as client:
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
    # the loopback address is the campaign's range: once blocked, every call gets 403
    assert outcome[-1] == "403", outcome
    with httpx.Client(base_url=admin.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        assert c.get(f"/v1/keys/{key_id}").json()["state"] == "revoked"
    with httpx.Client(base_url=proxy.url) as raw:
        reply = raw.get("/v1/models", headers={"authorization": f"Bearer {key}"})
        assert reply.status_code == 403 and reply.json()["error"]["code"] == "ip_blocked"
