"""Keys created by two writers at once, and the start-up load of every key.

    .venv/bin/python bench/identity_load_bench.py --postgres URL [--keys 3000] [--concurrency 8]

Two identity stores (two instances, own connections) create ``--keys`` keys between them,
each ``--concurrency`` at a time; then counts the keys listed (none may be missing) and
times the start-up load (``IdentityCache.start``) of a third instance. Uses a throwaway
namespace (schema), dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from vallum.clock import SystemClock
from vallum.errors import VallumError
from vallum.identity.cache import IdentityCache
from vallum.identity.keys import KeyHasher
from vallum.identity.records import KeySpec
from vallum.identity.store import IdentityStore
from vallum.storage import Storage, open_storage

PEPPER = b"bench-pepper-0123456789"


async def _writer(store: IdentityStore, count: int, concurrency: int) -> tuple[int, int]:
    gate = asyncio.Semaphore(concurrency)
    made = failed = 0

    async def one() -> None:
        nonlocal made, failed
        async with gate:
            try:
                await store.create_key(KeySpec(roles=("user",)), actor="bench")
                made += 1
            except VallumError:  # counted: a conflict is what this measures
                failed += 1

    await asyncio.gather(*(one() for _ in range(count)))
    return made, failed


async def run(url: str, keys: int, concurrency: int) -> None:
    namespace = "bench_" + uuid.uuid4().hex[:10]
    opened: list[Storage] = [await open_storage(url, namespace=namespace) for _ in range(3)]
    try:
        stores = [IdentityStore(s, KeyHasher(PEPPER), SystemClock()) for s in opened]
        started = time.perf_counter()
        results = await asyncio.gather(
            *(_writer(stores[i], keys // 2, concurrency) for i in range(2))
        )
        created = sum(made for made, _ in results)
        failed = sum(bad for _, bad in results)
        print(f"created {created} keys in {time.perf_counter() - started:.1f} s, {failed} failed")
        listed = len(await stores[2].list_keys())
        print(f"listed {listed}: {created - listed} created keys missing from the listing")
        loads = []
        for _ in range(5):
            cache = IdentityCache(stores[2])
            began = time.perf_counter()
            await cache.start()
            loads.append(time.perf_counter() - began)
            await cache.stop()
        print(f"start-up load of {listed} keys: median {statistics.median(loads) * 1000:.0f} ms")
    finally:
        await opened[0].drop_namespace()
        for storage in opened:
            await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--keys", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.postgres, args.keys, args.concurrency))


if __name__ == "__main__":
    main()
