"""Running the proxy and the admin API as two listeners of one process (one Gateway)."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["run_listeners"]


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
    servers = [
        uvicorn.Server(uvicorn.Config(app, **options)),
        uvicorn.Server(uvicorn.Config(AdminApp(gateway), **admin_options)),
    ]

    async def _both() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    uvicorn_loop = options.get("loop", "auto")
    if uvicorn_loop == "uvloop":
        import uvloop

        uvloop.run(_both())
    else:
        asyncio.run(_both())
