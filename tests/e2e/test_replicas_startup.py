"""Start-up and reconnection never hang: Redis down at start, and a change feed cut off.

Redis is reached through a throwaway TCP proxy that the test opens, cuts and reopens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ServerThread
from tests.unit.ratelimit.tcp_proxy import TcpProxy
from vallum.anomaly.state import announcing
from vallum.clock import SystemClock
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp
from vallum.storage import open_storage

CHAT = {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    made = TcpProxy(6379)
    yield made
    made.stop()


def _gateway(tmp_path: Path, counters_url: str, prefix: str) -> Gateway:
    config = {
        "storage": {
            "url": f"sqlite:///{tmp_path}/state.db",
            "counters_url": counters_url,
            "namespace": prefix,
        },
        "providers": [{"name": "mock", "type": "mock"}],
        "models": [{"name": "mock-echo", "provider": "mock"}],
        # a slow reconcile: what reaches the gateway within a second came by pub/sub
        "layers": [{"type": "ipblock", "reconcile_interval": 30}, {"type": "validate"}],
        "admin": {"enabled": True, "token_env": "VALLUM_TEST_NO_SUCH_ENV"},
    }
    return Gateway(build_config(config))


def _wait(check: object, timeout: float) -> float:
    """Poll ``check()`` until true; the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
    return time.monotonic() - started


def _readyz(server: ServerThread) -> int:
    return httpx.get(f"{server.url}/readyz", timeout=5).status_code


async def _block(tmp_path: Path, redis_url: str, prefix: str, cidr: str, on: bool) -> None:
    """What another replica (or the CLI) does: change the state and announce it."""
    storage = await open_storage(f"sqlite:///{tmp_path}/state.db", namespace=prefix)
    counters = await open_storage(redis_url, namespace=prefix)
    try:
        enforcement = announcing(storage, counters, SystemClock())
        await enforcement.change("blocks", cidr, {"until": None, "by": "test"} if on else None)
    finally:
        await counters.close()
        await storage.close()


def _status(server: ServerThread) -> int:
    return httpx.post(f"{server.url}/v1/chat/completions", json=CHAT, timeout=5).status_code


def test_redis_down_at_start_then_back(
    tmp_path: Path, proxy: TcpProxy, redis_url: str, unique_prefix: str
) -> None:
    gateway = _gateway(tmp_path, proxy.url, unique_prefix)  # nothing listens there yet
    started = time.monotonic()
    with ServerThread(GatewayApp(gateway)) as server:
        assert time.monotonic() - started < 8  # started, without Redis
        reply = httpx.get(f"{server.url}/readyz", timeout=5)
        assert reply.status_code == 503
        assert {"counters", "enforcement.feed", "identity.feed"} <= set(reply.json()["waiting"])
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        proxy.start()  # Redis is back: the gateway recovers by itself
        _wait(lambda: _readyz(server) == 200, 10)
        asyncio.run(_block(tmp_path, redis_url, unique_prefix, "127.0.0.1/32", True))
        assert _wait(lambda: _status(server) == 403, 1.0) < 1.0


def test_the_enforcement_feed_resubscribes_after_its_connection_drops(
    tmp_path: Path, proxy: TcpProxy, redis_url: str, unique_prefix: str
) -> None:
    proxy.start()
    gateway = _gateway(tmp_path, proxy.url, unique_prefix)
    with ServerThread(GatewayApp(gateway)) as server:
        _wait(lambda: _readyz(server) == 200, 10)
        proxy.stop()  # every connection to Redis is cut
        _wait(lambda: _readyz(server) == 503, 10)
        proxy = TcpProxy(6379, port=proxy.port).start()
        _wait(lambda: _readyz(server) == 200, 10)
        asyncio.run(_block(tmp_path, redis_url, unique_prefix, "127.0.0.1/32", True))
        blocked = _wait(lambda: _status(server) == 403, 1.0)
        asyncio.run(_block(tmp_path, redis_url, unique_prefix, "127.0.0.1/32", False))
        unblocked = _wait(lambda: _status(server) == 200, 1.0)
        print(f"resubscribed: block seen in {blocked:.3f} s, unblock in {unblocked:.3f} s")
    proxy.stop()
