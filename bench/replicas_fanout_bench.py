"""Blocks and unblocks from the admin API: time until every replica applies them.

    PYTHONPATH=. .venv/bin/python bench/replicas_fanout_bench.py --postgres URL --redis URL \
        [--rounds 50]

Starts three ``vallum serve`` processes sharing PostgreSQL and Redis (a throwaway
namespace), the first with the admin API; their reconcile is 30 s, so what reaches them
sooner came by pub/sub. Each round blocks 127.0.0.1/32 through the admin API and polls
every replica until it answers 403, then unblocks and polls until 200. Prints p50 / p99 /
max of the time from the admin reply to the last replica applying the change.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.support.replicas import Replica
from tests.support.servers import free_port
from vallum.admin.config import hash_token
from vallum.storage import open_storage

TOKEN = secrets.token_urlsafe(24)  # the admin credential of this run only
CHAT = {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}


def _seen(http: httpx.Client, replicas: list[Replica], status: int) -> float:
    started = time.perf_counter()
    pending = list(replicas)
    while pending:
        pending = [
            r
            for r in pending
            if http.post(f"{r.url}/v1/chat/completions", json=CHAT).status_code != status
        ]
    return time.perf_counter() - started


def run(postgres: str, redis: str, rounds: int) -> None:
    namespace = "bench_" + uuid.uuid4().hex[:10]
    base = {
        "storage": {"url": postgres, "counters_url": redis, "namespace": namespace},
        "providers": [{"name": "mock", "type": "mock"}],
        "models": [{"name": "mock-echo", "provider": "mock"}],
        "layers": [{"type": "ipblock", "reconcile_interval": 30}, {"type": "validate"}],
    }
    admin_port = free_port()
    admin = {
        "enabled": True,
        "port": admin_port,
        "token_env": "VALLUM_BENCH_NO_SUCH_ENV",
        "credentials": [{"name": "root", "token_sha256": hash_token(TOKEN)}],
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        replicas = [Replica({**base, "admin": admin}, directory, "replica-0")]
        replicas += [Replica(base, directory, f"replica-{i}") for i in (1, 2)]
        try:
            for replica in replicas:
                replica.start()
            for replica in replicas:
                replica.wait_ready()
            times: list[float] = []
            auth = {"authorization": f"Bearer {TOKEN}"}
            admin_url = f"http://127.0.0.1:{admin_port}"
            with httpx.Client(timeout=5) as http:
                for _ in range(rounds):
                    http.post(f"{admin_url}/v1/blocks", json={"cidr": "127.0.0.1/32"}, headers=auth)
                    times.append(_seen(http, replicas, 403))
                    http.delete(f"{admin_url}/v1/blocks?cidr=127.0.0.1/32", headers=auth)
                    times.append(_seen(http, replicas, 200))
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(
                f"{len(times)} changes, until all 3 replicas applied them: "
                f"p50 {statistics.median(times) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
                f"max {times[-1] * 1000:.1f} ms"
            )
        finally:
            for replica in replicas:
                replica.stop()
            asyncio.run(_drop(postgres, redis, namespace))


async def _drop(postgres: str, redis: str, namespace: str) -> None:
    for url in (postgres, redis):
        storage = await open_storage(url, namespace=namespace)
        await storage.drop_namespace()
        await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    run(args.postgres, args.redis, args.rounds)


if __name__ == "__main__":
    main()
