"""Forwarded client certificates are trusted by the TCP peer, never the resolved client.

Both gateways believe ``X-Forwarded-For`` from their loopback peer (``server.trusted_proxies``).
In the first, only 10.9.0.0/16 may forward certificates: a loopback client that names such
an address in ``X-Forwarded-For`` must not be believed. In the second, the loopback peer is
the certificate-forwarding proxy (Envoy): its header is believed whatever client it names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

BATCH = "spiffe://corp/ns/ml/sa/batch"
CHAT = {"model": "gpt-echo", "messages": [{"role": "user", "content": "hi"}]}
XFCC = {"x-forwarded-client-cert": f"Hash=00;URI={BATCH}"}


def _gateway(upstream: ServerThread, cert_proxies: list[str]) -> ServerThread:
    mtls: dict[str, Any] = {
        "trusted_proxies": cert_proxies,
        "principals": [{"match": f"uri:{BATCH}", "principal": "svc:batch", "roles": ["user"]}],
    }
    layers = [
        {"type": "authn", "methods": ["mtls"], "mtls": mtls},
        {"type": "authz"},
        {"type": "validate"},
    ]
    config = gateway_config(
        upstream.url, layers=layers, server={"trusted_proxies": ["127.0.0.1/32"]}
    )
    return ServerThread(GatewayApp(Gateway(build_config(config))))


@pytest.fixture(scope="module")
def elsewhere(upstream: ServerThread) -> Iterator[ServerThread]:
    with _gateway(upstream, ["10.9.0.0/16"]) as server:
        yield server


@pytest.fixture(scope="module")
def envoy(upstream: ServerThread) -> Iterator[ServerThread]:
    with _gateway(upstream, ["127.0.0.1/32"]) as server:
        yield server


def _post(server: ServerThread, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        return client.post("/v1/chat/completions", json=CHAT, headers=headers)


def test_a_forwarded_for_address_does_not_make_a_peer_a_trusted_cert_proxy(
    elsewhere: ServerThread,
) -> None:
    reply = _post(elsewhere, {**XFCC, "x-forwarded-for": "10.9.9.9"})
    assert reply.status_code == 401, reply.text


def test_the_trusted_cert_proxy_is_believed_whatever_client_it_forwards_for(
    envoy: ServerThread,
) -> None:
    reply = _post(envoy, {**XFCC, "x-forwarded-for": "198.51.100.7"})
    assert reply.status_code == 200, reply.text
    assert _post(envoy, XFCC).status_code == 200
