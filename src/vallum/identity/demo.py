"""The demo key: created on the first ``vallum demo`` in a directory, reused afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from vallum.config import GatewayConfig
from vallum.identity.keys import parse_key
from vallum.identity.records import KeySpec

__all__ = ["DEMO_ADMIN_TOKEN_FILE", "DEMO_KEY_FILE", "ensure_demo_admin_token", "ensure_demo_key"]

DEMO_KEY_FILE = Path(".vallum/demo.key")
DEMO_ADMIN_TOKEN_FILE = Path(".vallum/admin.token")


async def _ensure(config: GatewayConfig, path: Path, existing: str) -> str:
    from vallum.cli.keys import _with_identity  # the CLI's way of opening the store
    from vallum.identity.service import IdentityService

    result: list[str] = []

    async def ensure(service: IdentityService) -> int:
        parsed = parse_key(existing)
        if parsed is not None:
            record = await service.store.get_key(parsed[0])
            now = service.store.clock.now()
            if record is not None and record.state(now) == "active":
                result.append(existing)
                return 0
        spec = KeySpec(name="demo", owner="demo", roles=("user",), labels={"purpose": "demo"})
        _, issued = await service.store.create_key(spec, actor="vallum-demo")
        result.append(issued.reveal())
        return 0

    await _with_identity(config, ensure)
    return result[0]


def ensure_demo_key(config: GatewayConfig, path: Path = DEMO_KEY_FILE) -> str:
    """The demo key (role ``user``), kept in ``.vallum/demo.key`` (mode 0600)."""
    existing = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    key = asyncio.run(_ensure(config, path, existing))
    if key != existing:
        _write_private(path, key)
    return key


def ensure_demo_admin_token(path: Path = DEMO_ADMIN_TOKEN_FILE) -> str:
    """The demo's admin API token, kept in ``.vallum/admin.token`` (mode 0600)."""
    existing = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    if len(existing) >= 32:
        return existing
    token = "vadm_" + secrets.token_urlsafe(32)
    _write_private(path, token)
    return token


def _write_private(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
