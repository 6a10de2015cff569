"""Three ``vallum serve`` processes sharing one Redis and one PostgreSQL behave as one gateway.

Each test starts its own replicas (real processes, a per-test namespace and key prefix) and
drives them over HTTP; ``kill -9`` is a real SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support.replicas import PEPPER, SRC, Replica, start_replicas
from tests.support.servers import free_port
from vallum.admin.config import hash_token
from vallum.clock import SystemClock
from vallum.identity.keys import KeyHasher
from vallum.identity.records import KeyQuota, KeySpec
from vallum.identity.store import IdentityStore
from vallum.storage import Storage, open_storage

pytestmark = [pytest.mark.postgres]

LEASE_TTL = 3.0
SLOW = {"chunks": 200, "chunk_gap": 0.2}  # a stream of ~40 s: it holds its slot meanwhile
CHAT = {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}
LONG = " ".join(f"w{i}" for i in range(400))
STREAM = {
    **CHAT,
    "stream": True,
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": LONG}],
}


def replica_config(postgres_url: str, redis_url: str, prefix: str) -> dict[str, Any]:
    return {
        "storage": {"url": postgres_url, "counters_url": redis_url, "namespace": prefix},
        "providers": [{"name": "mock", "type": "mock", "mock": SLOW}],
        "models": [{"name": "mock-echo", "provider": "mock"}],
        "timeouts": {"read": 5.0, "total": 60.0, "stream_idle": 5.0},
        "layers": [
            {"type": "authn"},
            {"type": "authz"},
            {"type": "ratelimit", "key_prefix": prefix, "lease_ttl": LEASE_TTL},
        ],
    }


class Shared:
    """The test's own connection to the replicas' store, to create keys."""

    def __init__(self, storage: Storage, counters: Storage) -> None:
        self.storage = storage
        self.store = IdentityStore(
            storage, KeyHasher(PEPPER.encode()), SystemClock(), [counters.pubsub]
        )

    async def key(self, **quota: Any) -> str:
        spec = KeySpec(roles=("user",), quota=KeyQuota(**quota))
        _, issued = await self.store.create_key(spec, actor="test")
        return issued.reveal()


@pytest.fixture
async def shared(postgres_url: str, redis_url: str, unique_prefix: str) -> AsyncIterator[Shared]:
    storage = await open_storage(postgres_url, namespace=unique_prefix)
    counters = await open_storage(redis_url, namespace=unique_prefix)
    yield Shared(storage, counters)
    await storage.drop_namespace()
    await counters.drop_namespace()
    await storage.close()
    await counters.close()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match="{" + unique_prefix + ":rl}:*"):
        client.delete(key)
    client.close()


@pytest.fixture
def replicas(
    shared: Shared, tmp_path: Path, postgres_url: str, redis_url: str, unique_prefix: str
) -> Iterator[list[Replica]]:
    running = start_replicas(replica_config(postgres_url, redis_url, unique_prefix), tmp_path, 3)
    yield running
    for replica in running:
        replica.stop()


def _headers(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def _wait_for_key(replicas: list[Replica], key: str) -> None:
    """Keys reach every replica's cache by pub/sub; wait until each accepts this one."""
    async with httpx.AsyncClient(timeout=5) as http:
        for replica in replicas:
            for _ in range(100):
                reply = await http.post(
                    f"{replica.url}/v1/chat/completions", json=CHAT, headers=_headers(key)
                )
                if reply.status_code != 401:
                    break
                await asyncio.sleep(0.05)


async def _until(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


def _load(urls: list[str], key: str, stop: threading.Event, statuses: list[int]) -> None:
    with httpx.Client(timeout=10) as http:
        i = 0
        while not stop.is_set():
            reply = http.post(
                f"{urls[i % len(urls)]}/v1/chat/completions",
                json={**CHAT, "max_tokens": 2},
                headers=_headers(key),
            )
            statuses.append(reply.status_code)
            i += 1


async def test_a_killed_replica_frees_its_slots_within_the_lease_ttl(
    shared: Shared, replicas: list[Replica]
) -> None:
    """A key with max_concurrent 2 whose two slots are held by streams on a replica that
    is then SIGKILLed: another replica admits the key again within the lease TTL, and
    the surviving replicas answer every call of a concurrent load meanwhile."""
    doomed, *survivors = replicas
    limited = await shared.key(max_concurrent=2)
    other = await shared.key()
    await _wait_for_key(replicas, limited)
    await _wait_for_key(replicas, other)
    statuses: list[int] = []
    stop = threading.Event()
    load = threading.Thread(target=_load, args=([s.url for s in survivors], other, stop, statuses))
    async with httpx.AsyncClient(timeout=10) as http:
        streams = [
            http.stream(
                "POST", f"{doomed.url}/v1/chat/completions", json=STREAM, headers=_headers(limited)
            )
            for _ in range(2)
        ]
        opened = [await s.__aenter__() for s in streams]
        assert [r.status_code for r in opened] == [200, 200]
        chunks = [reply.aiter_bytes() for reply in opened]  # kept: dropping one closes it
        for chunk in chunks:
            await anext(chunk)
        load.start()
        try:
            await _until(lambda: len(statuses) >= 5, 30)  # the load runs before the kill
            busy = await http.post(
                f"{survivors[0].url}/v1/chat/completions", json=CHAT, headers=_headers(limited)
            )
            assert busy.status_code == 429 and busy.json()["error"]["type"] == "concurrency"
            doomed.kill()
            killed = time.monotonic()
            for stream in streams:  # their replica is gone: the streams just end
                with contextlib.suppress(httpx.HTTPError):
                    await stream.__aexit__(None, None, None)
            freed = None
            while time.monotonic() - killed < LEASE_TTL + 5:
                reply = await http.post(
                    f"{survivors[1].url}/v1/chat/completions", json=CHAT, headers=_headers(limited)
                )
                if reply.status_code == 200:
                    freed = time.monotonic() - killed
                    break
                assert reply.status_code == 429
                await asyncio.sleep(0.1)
            mark = len(statuses)
            await _until(lambda: len(statuses) >= mark + 5, 30)  # and goes on after it
        finally:
            stop.set()
            load.join(timeout=15)
    assert freed is not None and freed <= LEASE_TTL + 2.0, freed  # TTL, plus a loaded machine
    assert statuses and set(statuses) == {200}, set(statuses)
    print(
        f"slots freed {freed:.2f} s after kill -9 (lease_ttl {LEASE_TTL} s); load {len(statuses)}"
    )


ADMIN_TOKEN = "replica-admin-token-0123456789"


@pytest.fixture
def enforcing(
    shared: Shared, tmp_path: Path, postgres_url: str, redis_url: str, unique_prefix: str
) -> Iterator[tuple[list[Replica], str, Path]]:
    """Three replicas refusing blocked ranges; the first also runs the admin API. Their
    reconcile is slow (30 s): what reaches them sooner came by pub/sub."""
    base = replica_config(postgres_url, redis_url, unique_prefix)
    base["providers"] = [{"name": "mock", "type": "mock"}]
    base["layers"] = [{"type": "ipblock", "reconcile_interval": 30}, {"type": "validate"}]
    admin_port = free_port()
    admin = {
        "enabled": True,
        "port": admin_port,
        "token_env": "VALLUM_TEST_NO_SUCH_ENV",
        "credentials": [{"name": "root", "token_sha256": hash_token(ADMIN_TOKEN)}],
    }
    running = [Replica({**base, "admin": admin}, tmp_path, "replica-0")]
    running += [Replica(base, tmp_path, f"replica-{i}") for i in (1, 2)]
    try:
        for replica in running:
            replica.start()
        for replica in running:
            replica.wait_ready()
        yield running, f"http://127.0.0.1:{admin_port}", running[0].config_file
    finally:
        for replica in running:
            replica.stop()


def _seen_everywhere(http: httpx.Client, replicas: list[Replica], status: int) -> float:
    """Seconds until every replica answers ``status`` (403 blocked, 200 not)."""
    started = time.monotonic()
    pending = list(replicas)
    while pending:
        assert time.monotonic() - started < 5, "not seen within 5 s"
        pending = [
            r
            for r in pending
            if http.post(f"{r.url}/v1/chat/completions", json=CHAT).status_code != status
        ]
    return time.monotonic() - started


def _cli(config_file: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "vallum.cli.main", "blocks", *args, "--config", str(config_file)],
        env={**os.environ, "PYTHONPATH": SRC},
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_blocks_from_the_admin_api_and_the_cli_reach_every_replica_and_replicas_know_each_other(
    enforcing: tuple[list[Replica], str, Path],
) -> None:
    replicas, admin_url, config_file = enforcing
    seen: dict[str, list[float]] = {"admin": [], "cli": []}
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(timeout=5) as http:
        for _ in range(3):
            reply = http.post(f"{admin_url}/v1/blocks", json={"cidr": "127.0.0.1/32"}, headers=auth)
            assert reply.status_code == 201, reply.text
            seen["admin"].append(_seen_everywhere(http, replicas, 403))
            reply = http.delete(f"{admin_url}/v1/blocks?cidr=127.0.0.1/32", headers=auth)
            assert reply.status_code == 200, reply.text
            seen["admin"].append(_seen_everywhere(http, replicas, 200))
        _cli(config_file, "add", "127.0.0.1/32")
        seen["cli"].append(_seen_everywhere(http, replicas, 403))
        _cli(config_file, "remove", "127.0.0.1/32")
        seen["cli"].append(_seen_everywhere(http, replicas, 200))
        listed = http.get(f"{admin_url}/v1/instances", headers=auth).json()
        assert sorted(i["name"] for i in listed["data"]) == [r.name for r in replicas]
        assert listed["self"].startswith("replica-0-")
    # far below the 30 s reconcile: announced on the channel every replica listens on
    assert max(seen["admin"] + seen["cli"]) < 1.0, seen
    print({k: [round(v * 1000) for v in vs] for k, vs in seen.items()}, "ms until every replica")
