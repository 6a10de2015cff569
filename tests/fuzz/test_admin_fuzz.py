"""The admin API fuzzed from its own OpenAPI document (schemathesis): never a 5xx.

Schemathesis draws valid and invalid requests for every operation — path and query
parameters and bodies — from ``/openapi.json``, as a super admin and as a team admin, over
real HTTP on loopback against a gateway with SQLite storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode

from tests.fuzz.conftest import EXAMPLES, TALLY, fuzz_settings
from tests.support.servers import ServerThread
from vallum.admin.app import ALL_ROUTES, AdminApp
from vallum.admin.config import hash_token
from vallum.admin.openapi import openapi_document
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

ADMIN_TOKEN = "fuzz-admin-token-0123456789"
TEAM_TOKEN = "fuzz-team-token-0123456789"

schema = schemathesis.openapi.from_dict(openapi_document(ALL_ROUTES))
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# CI: drawn examples only; long runs (make fuzz) add schemathesis' coverage phase, which
# walks every boundary of every parameter (many requests per operation).
schema.config.phases.update(phases=["examples", "fuzzing", *(["coverage"] if EXAMPLES else [])])


@dataclass
class AdminSite:
    url: str


@pytest.fixture(scope="module")
def admin_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminSite]:
    root = tmp_path_factory.mktemp("fuzz-admin")
    config = build_config(
        {
            "storage": {"url": f"sqlite:///{root}/vallum.db", "counters_url": "memory://"},
            "providers": [{"name": "mock", "type": "mock"}],
            "models": [{"name": "mock-echo", "provider": "mock"}],
            "layers": [{"type": "authn"}, {"type": "authz"}],
            "admin": {
                "enabled": True,
                "token_env": "VALLUM_TEST_NO_SUCH_ENV",
                "credentials": [
                    {"name": "root", "token_sha256": hash_token(ADMIN_TOKEN)},
                    {"name": "team", "token_sha256": hash_token(TEAM_TOKEN), "team": "ml"},
                ],
            },
        }
    )
    with ServerThread(_Started(Gateway(config))) as admin:
        yield AdminSite(admin.url)


class _Started:
    """The admin app, with the gateway's start and stop on its lifespan: one event loop for
    both, as ``vallum serve`` runs them (SQLite connections belong to one loop)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.admin = AdminApp(gateway)
        self.proxy = GatewayApp(gateway)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self.proxy if scope["type"] == "lifespan" else self.admin
        await app(scope, receive, send)


@pytest.mark.parametrize("token", [ADMIN_TOKEN, TEAM_TOKEN], ids=["super", "team"])
@schema.parametrize()
@fuzz_settings(10)
def test_admin_api_never_answers_5xx(case: Any, admin_site: AdminSite, token: str) -> None:
    response = case.call(
        base_url=admin_site.url, headers={"authorization": f"Bearer {token}"}, timeout=30
    )
    TALLY["requests"] += 1
    if response.status_code >= 500:
        TALLY["server_errors"] += 1
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]
