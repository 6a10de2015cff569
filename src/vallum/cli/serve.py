"""Running the gateway under uvicorn (uvloop + httptools), one or several workers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vallum.config import GatewayConfig, load_config
from vallum.errors import ConfigError
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp
from vallum.proxy.connections import ConnectionLimits
from vallum.proxy.server_protocol import protocol_factory

__all__ = ["CONFIG_ENV", "app_factory", "demo_config", "serve", "uvicorn_options"]

CONFIG_ENV = "VALLUM_CONFIG_FILE"


def demo_config(port: int = 8080, host: str = "127.0.0.1") -> GatewayConfig:
    """Embedded defaults: the built-in mock model, SQLite under ./.vallum, in-process counters."""
    from vallum.config import build_config

    return build_config(
        {
            "server": {"host": host, "port": port},
            "storage": {"url": "sqlite:///.vallum/vallum.db", "counters_url": "memory://"},
            "providers": [{"name": "mock", "type": "mock"}],
            "models": [
                {"name": "mock-fast", "provider": "mock"},
                {"name": "mock-echo", "provider": "mock"},
                {"name": "mock-embed", "provider": "mock"},
            ],
            "layers": [
                {"type": "ipblock"},  # first: refuses blocked ranges
                {"type": "anomaly", "dry_run": False},  # recommended thresholds; acts
                {"type": "authn"},
                {"type": "authz"},
                {  # a recommended starting policy: per-IP and per-key rates, 8 calls in flight
                    "type": "ratelimit",
                    "limits": [
                        {"scope": "ip", "requests_per_minute": 600},
                        {"scope": "key", "requests_per_minute": 120, "max_concurrent": 8},
                    ],
                    # pretend prices, so --budget-usd and spend reports work on the mock
                    "prices": [
                        {"model": "mock-*", "input_per_million": 0.15, "output_per_million": 0.6}
                    ],
                },
                {"type": "validate"},
                {"type": "input_guard"},  # injection, content policy, secrets and PII in prompts
                {"type": "tool_guard"},  # tool calls traced to the turns that supplied their values
                {"type": "link_guard"},  # links and images only untrusted content named: removed
                {"type": "spotlight"},  # after the layers that read untrusted text as it came
                {"type": "output_filter"},  # redacts PII and secrets in replies, streamed or not
                {  # durable audit trail in SQLite under .vallum/, checkpoints signed
                    "type": "audit",
                    "sinks": [{"type": "sqlite", "path": ".vallum/audit.db"}],
                    "signing_key_file": ".vallum/audit.key",
                    "create_signing_key": True,
                },
            ],
        },
        source="<demo>",
    )


def app_factory() -> GatewayApp:
    """Used by uvicorn workers: each worker process builds its own Gateway from the file."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise ConfigError(f"{CONFIG_ENV} is not set")
    return GatewayApp(Gateway(load_config(path)))


def uvicorn_options(config: GatewayConfig) -> dict[str, Any]:
    """The proxy listener's uvicorn settings (TLS added where the listener is started)."""
    server = config.server
    return {
        "host": server.host,
        "port": server.port,
        "loop": "uvloop",
        # uvicorn's httptools protocol, but a response's head and body leave in one write(),
        # and each connection is held to the limits (caps, head size, read timeouts).
        "http": protocol_factory(ConnectionLimits.from_config(config)),
        "lifespan": "on",
        "access_log": False,
        "log_level": "warning",
        "server_header": False,
        "date_header": False,
        "timeout_keep_alive": 30,
        # Vallum resolves X-Forwarded-For itself (server.trusted_proxies); uvicorn's middleware
        # would trust loopback peers by default and costs a call layer per request.
        "proxy_headers": False,
    }


def serve(config: GatewayConfig, *, config_path: str | None = None) -> None:
    import uvicorn

    server = config.server
    options = uvicorn_options(config)
    if server.workers > 1:
        if config_path is None:
            raise ConfigError("several workers need a config file (vallum serve --config FILE)")
        os.environ[CONFIG_ENV] = str(Path(config_path).resolve())
        if config.tls is not None:  # the single-worker path adds these in run_listeners
            options.update(config.tls.uvicorn_options())
        uvicorn.run("vallum.cli.serve:app_factory", factory=True, workers=server.workers, **options)
        return
    from vallum.admin.server import run_listeners  # the proxy, plus the admin API if enabled

    run_listeners(GatewayApp(Gateway(config)), options)
