"""Running the proxy and the admin API as two listeners of one process (one Gateway)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

__all__ = ["run_listeners"]

_STARTUP_FAILURE = 3  # uvicorn's exit status when the application's start-up failed


def run_listeners(app: Any, options: dict[str, Any]) -> None:
    """``uvicorn.run(app, **options)``, plus the admin listener when ``admin.enabled``.

    The proxy app owns the gateway's lifespan; the admin app shares the started gateway.
    TLS options from the ``tls:`` section apply to the proxy listener only.
    """
    import uvicorn

    gateway = app.gateway
    tls = gateway.config.tls
    if tls is not None:
        options = {**options, **tls.uvicorn_options()}
    admin = gateway.config.admin
    if not admin.enabled:
        uvicorn.run(app, **options)
        return
    from vallum.admin.app import AdminApp
    from vallum.admin.config import require_admin_credentials

    require_admin_credentials(admin)

    admin_options = {
        k: v for k, v in options.items() if k not in ("host", "port") and not k.startswith("ssl_")
    }
    admin_options.update(host=admin.host, port=admin.port, lifespan="off")
    if "http" in options:  # the same limits, but its own connection counts
        from vallum.proxy.connections import ConnectionLimits
        from vallum.proxy.server_protocol import protocol_factory

        admin_options["http"] = protocol_factory(ConnectionLimits.from_config(gateway.config))
    servers = [
        uvicorn.Server(uvicorn.Config(app, **options)),
        uvicorn.Server(uvicorn.Config(AdminApp(gateway), **admin_options)),
    ]

    async def _both() -> None:
        proxy, admin_server = servers
        admin_task = asyncio.ensure_future(admin_server.serve())
        await proxy.serve()
        admin_server.should_exit = True  # a proxy that failed to start takes the admin down
        await admin_task

    uvicorn_loop = options.get("loop", "auto")
    if uvicorn_loop == "uvloop":
        import uvloop

        uvloop.run(_both())
    else:
        asyncio.run(_both())
    if not servers[0].started:
        sys.exit(_STARTUP_FAILURE)  # as uvicorn.run does: a failed start is a non-zero exit
