"""The gateway in front of a real upstream on loopback, driven by the official SDKs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.servers import ServerThread
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app
from vallum.proxy.app import GatewayApp


def gateway_config(upstream_url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "providers": [
            {"name": "local-openai", "type": "openai", "base_url": f"{upstream_url}/v1"},
            {"name": "local-anthropic", "type": "anthropic", "base_url": upstream_url},
            {"name": "inproc", "type": "mock", "mock": {"chunks": 7}},
        ],
        "models": [
            {"name": "gpt-echo", "provider": "local-openai", "upstream_model": "mock-echo"},
            {"name": "mock-*", "provider": "local-openai"},
            {"name": "claude-echo", "provider": "local-anthropic", "upstream_model": "mock-echo"},
            {"name": "claude-*", "provider": "local-anthropic"},
            {"name": "inproc-echo", "provider": "inproc", "upstream_model": "mock-echo"},
        ],
        "timeouts": {"read": 2.0, "total": 3.0, "stream_idle": 2.0},
        "storage": {"url": "memory://", "counters_url": "memory://"},
        "layers": [{"type": "validate"}],
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def upstream() -> Iterator[ServerThread]:
    with ServerThread(mock_asgi_app(MockModel(MockSettings(chunks=12)))) as server:
        yield server


@pytest.fixture(scope="session")
def gateway(upstream: ServerThread) -> Iterator[ServerThread]:
    config = build_config(gateway_config(upstream.url))
    with ServerThread(GatewayApp(Gateway(config))) as server:
        yield server
