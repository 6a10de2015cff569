"""Shared helpers: a started in-memory Gateway with authn + authz, and exchanges to feed it."""

from __future__ import annotations

from typing import Any

from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.pipeline.exchange import Endpoint, Exchange, NormalizedRequest, WireFormat


def identity_gateway(layers: list[dict[str, Any]] | None = None) -> Gateway:
    config = build_config(
        {
            "storage": {"url": "memory://", "counters_url": "memory://"},
            "providers": [{"name": "mock", "type": "mock"}],
            "models": [{"name": "mock-echo", "provider": "mock"}],
            "layers": layers or [{"type": "authn"}, {"type": "authz"}],
        },
        source="<test>",
    )
    return Gateway(config)


def exchange(
    headers: dict[str, str],
    *,
    model: str = "gpt-4o-mini",
    endpoint: Endpoint = Endpoint.CHAT,
    client_ip: str = "10.1.2.3",
) -> Exchange:
    request = None
    if endpoint is not Endpoint.MODELS:
        request = NormalizedRequest(
            endpoint=endpoint, wire=WireFormat.OPENAI, model=model, stream=False, body={}
        )
    return Exchange(
        request_id="req_test",
        method="POST",
        path="/v1/chat/completions",
        client_ip=client_ip,
        headers=dict(headers),
        started=0.0,
        endpoint=endpoint,
        request=request,
    )
