"""Anomaly responses never act on bystanders, through real HTTP behind a trusted proxy.

The test plays the load balancer (127.0.0.1, in ``trusted_proxies``) and sets
``X-Forwarded-For`` from documentation ranges (RFC 5737). A NAT'd office mistypes keys:
the address is locked out for unknown keys only, and the office's valid key keeps working.
The proxy's own address and loopback are never blocked, whatever fails from them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import gateway_config
from tests.e2e.test_identity import ADMIN_TOKEN
from tests.support.servers import ServerThread
from vallum.admin.app import AdminApp
from vallum.admin.config import hash_token
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

OFFICE = "198.51.100.7"
CHAT = {"model": "gpt-echo", "messages": [{"role": "user", "content": "hello"}]}
BAD_KEY = "vk_0000000000000000_" + "a" * 43


@pytest.fixture
def bystander_gateway(upstream: ServerThread) -> Iterator[tuple[ServerThread, ServerThread]]:
    config = gateway_config(
        upstream.url,
        server={"trusted_proxies": ["127.0.0.1/32"]},
        layers=[
            {"type": "ipblock"},
            {"type": "anomaly", "thresholds": {"auth_fail_ip": 5}},
            {"type": "authn"},
            {"type": "authz"},
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


def _wait_for(check: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_failed_logins_lock_out_unknown_keys_never_the_valid_keys_behind_the_address(
    bystander_gateway: tuple[ServerThread, ServerThread],
) -> None:
    proxy, admin = bystander_gateway
    with httpx.Client(base_url=admin.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        valid = c.post("/v1/keys", json={"roles": ["user"]}).json()["key"]
    office = {"x-forwarded-for": OFFICE}
    with httpx.Client(base_url=proxy.url, timeout=10) as http:
        assert (
            http.post(
                "/v1/chat/completions",
                json=CHAT,
                headers={**office, "authorization": f"Bearer {valid}"},
            ).status_code
            == 200
        )
        for _ in range(12):  # typos: well-formed keys nobody issued
            http.post(
                "/v1/chat/completions",
                json=CHAT,
                headers={**office, "authorization": f"Bearer {BAD_KEY}"},
            )

        def locked() -> bool:
            reply = http.post(
                "/v1/chat/completions",
                json=CHAT,
                headers={**office, "authorization": f"Bearer {BAD_KEY}"},
            )
            return reply.status_code == 429

        assert _wait_for(locked), "failed logins from the address never locked it out"
        refused = http.post(
            "/v1/chat/completions",
            json=CHAT,
            headers={**office, "authorization": f"Bearer {BAD_KEY}"},
        )
        assert refused.json()["error"]["code"] == "too_many_failed_authentications"
        assert 1 <= int(refused.headers["retry-after"]) <= 120
        for _ in range(5):  # the office's valid key is a bystander: it keeps working
            ok = http.post(
                "/v1/chat/completions",
                json=CHAT,
                headers={**office, "authorization": f"Bearer {valid}"},
            )
            assert ok.status_code == 200, ok.text
        other = http.post(  # another office is untouched
            "/v1/chat/completions",
            json=CHAT,
            headers={"x-forwarded-for": "203.0.113.9", "authorization": f"Bearer {BAD_KEY}"},
        )
        assert other.status_code == 401


def test_the_trusted_proxy_and_loopback_are_never_blocked(
    bystander_gateway: tuple[ServerThread, ServerThread],
) -> None:
    proxy, admin = bystander_gateway
    with httpx.Client(base_url=admin.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        valid = c.post("/v1/keys", json={"roles": ["user"]}).json()["key"]
        with httpx.Client(base_url=proxy.url, timeout=10) as http:
            for _ in range(30):  # failures whose client address is the proxy itself
                http.post(
                    "/v1/chat/completions",
                    json=CHAT,
                    headers={"authorization": f"Bearer {BAD_KEY}"},
                )

            def recorded() -> bool:
                incidents = c.get("/v1/incidents").json()["data"]
                return any(i["detector"] == "auth_failures" for i in incidents)

            assert _wait_for(recorded), "the failures were not even recorded"
            incidents = c.get("/v1/incidents").json()["data"]
            actions = [a for i in incidents for a in i["actions"] if a["kind"] != "alert"]
            assert actions and {a["status"] for a in actions} == {"allow_listed"}
            ok = http.post(
                "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {valid}"}
            )
            assert ok.status_code == 200
            typo = http.post(
                "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {BAD_KEY}"}
            )
            assert typo.status_code == 401, "loopback is never locked out"


def test_a_key_made_elsewhere_works_on_its_first_call_and_is_no_failed_login(
    upstream: ServerThread, tmp_path: object
) -> None:
    """A key written to the store by another process (the CLI) with no announcement: the
    gateway reads it on first sight instead of refusing it until the next reconcile."""
    import asyncio

    from vallum.clock import SystemClock
    from vallum.identity.keys import KeyHasher, pepper_from_env
    from vallum.identity.records import KeySpec
    from vallum.identity.store import IdentityStore
    from vallum.storage import open_storage

    url = f"sqlite:///{tmp_path}/vallum.db"
    config = gateway_config(
        upstream.url,
        storage={"url": url, "counters_url": "memory://"},
        layers=[{"type": "anomaly"}, {"type": "authn"}, {"type": "authz"}],
    )
    gateway = Gateway(build_config(config))
    with ServerThread(GatewayApp(gateway)) as proxy:

        async def create() -> str:
            storage = await open_storage(url)
            try:  # another process's store: no pub/sub reaches the gateway
                store = IdentityStore(storage, KeyHasher(pepper_from_env()), SystemClock(), [])
                _, issued = await store.create_key(KeySpec(roles=("user",)), actor="cli")
                return issued.reveal()
            finally:
                await storage.close()

        for _ in range(3):
            key = asyncio.run(create())
            reply = httpx.post(
                f"{proxy.url}/v1/chat/completions",
                json=CHAT,
                headers={"authorization": f"Bearer {key}"},
                timeout=10,
            )
            assert reply.status_code == 200, reply.text
