"""Start-up with PostgreSQL unreachable: bounded attempts, retries with backoff, a truthful
``/readyz``. The database is reached through a TCP gate the test controls."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.support.servers import free_port
from tests.support.tcp_gate import TcpGate
from vallum.config import build_config
from vallum.errors import StorageError
from vallum.gateway import Gateway
from vallum.storage import open_storage

pytestmark = pytest.mark.postgres


@pytest.fixture
def gate(postgres_url: str) -> Iterator[TcpGate]:
    parts = urlsplit(postgres_url)
    gate = TcpGate((parts.hostname or "127.0.0.1", parts.port or 5432), mode="blackhole")
    yield gate
    gate.close()


@pytest.fixture
def namespace(postgres_url: str, unique_prefix: str) -> Iterator[str]:
    yield unique_prefix

    async def drop() -> None:
        storage = await open_storage(postgres_url, namespace=unique_prefix)
        await storage.drop_namespace()
        await storage.close()

    asyncio.run(drop())


def _through(postgres_url: str, gate: TcpGate) -> str:
    parts = urlsplit(postgres_url)
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{gate.port}")
    return parts._replace(netloc=netloc).geturl()


def _config(url: str, namespace: str, **storage: Any) -> dict[str, Any]:
    return {
        "storage": {"url": url, "counters_url": "memory://", "namespace": namespace, **storage},
        "server": {"single_instance": True},  # counters in memory: this is the only one
        "providers": [{"name": "mock", "type": "mock"}],
        "models": [{"name": "mock-echo", "provider": "mock"}],
    }


def test_a_blackholed_database_fails_start_up_in_bounded_time(
    postgres_url: str, gate: TcpGate, namespace: str
) -> None:
    config = _config(
        _through(postgres_url, gate), namespace, connect_timeout=0.3, start_timeout=1.5
    )
    gateway = Gateway(build_config(config))
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        asyncio.run(asyncio.wait_for(gateway.start(), timeout=10))
    assert time.monotonic() - started < 5
    assert caught.value.public_message == "storage backend unreachable at start-up"
    assert gate.accepted >= 3  # retried, each attempt cut short


def test_start_up_retries_until_the_database_answers(
    postgres_url: str, gate: TcpGate, namespace: str
) -> None:
    gate.mode = "refuse"
    config = _config(_through(postgres_url, gate), namespace, start_timeout=20)
    gateway = Gateway(build_config(config))

    async def start_while_it_recovers() -> None:
        task = asyncio.ensure_future(gateway.start())
        await asyncio.sleep(1.0)
        assert not task.done()
        assert not gateway.started
        gate.mode = "forward"
        await asyncio.wait_for(task, timeout=15)
        assert await gateway.readiness.waiting() == []
        gate.cut("blackhole")
        assert await gateway.readiness.waiting() == ["storage"]
        await gateway.stop()

    asyncio.run(start_while_it_recovers())
    assert gate.accepted >= 3


def test_admin_health_and_readiness_tell_the_truth(
    postgres_url: str, gate: TcpGate, namespace: str, tmp_path: Path
) -> None:
    admin_port = free_port()
    config = {
        **_config(_through(postgres_url, gate), namespace, connect_timeout=0.5, start_timeout=60),
        "server": {"port": free_port(), "single_instance": True},
        "admin": {"enabled": True, "port": admin_port},
    }
    config_file = tmp_path / "vallum.yaml"
    config_file.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "vallum.cli.main", "serve", "--config", str(config_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "VALLUM_ADMIN_TOKEN": "startup-test-admin-token-0123456789"},
    )
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        health = _wait_for(f"{admin}/healthz", lambda r: r.status_code == 200)
        assert health.json() == {"status": "starting"}
        ready = httpx.get(f"{admin}/readyz", timeout=2)
        assert (ready.status_code, ready.json()) == (503, {"status": "starting"})
        gate.mode = "forward"
        _wait_for(f"{admin}/readyz", lambda r: r.status_code == 200)
        assert httpx.get(f"{admin}/healthz", timeout=2).json() == {"status": "ok"}
        gate.cut("blackhole")  # the database goes away after start-up
        gone = _wait_for(f"{admin}/readyz", lambda r: r.status_code == 503)
        assert gone.json()["status"] == "not_ready"
        assert "storage" in gone.json()["waiting"]  # (the key-change feed listens on it too)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_for(url: str, done: Any, within: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        try:
            reply = httpx.get(url, timeout=2)
            if done(reply):
                return reply
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} never reached the expected state"
        time.sleep(0.1)
