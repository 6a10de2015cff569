"""authn + authz cost per request (cached API keys, cached-JWKS JWTs) and revocation fan-out.

    .venv/bin/python bench/identity_bench.py [--n 20000] [--redis URL --postgres URL]

Medians in microseconds of ``pipeline.on_headers`` + ``on_request`` with only authn and authz,
in-process (no HTTP). With --redis and --postgres it also measures how long a revocation
made through one instance takes to be visible in a second instance's cache.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.identity.records import KeySpec
from vallum.pipeline.exchange import Endpoint, Exchange, NormalizedRequest, WireFormat


def _exchange(headers: dict[str, str]) -> Exchange:
    request = NormalizedRequest(Endpoint.CHAT, WireFormat.OPENAI, "mock-echo", False, {})
    return Exchange(
        "req",
        "POST",
        "/v1/chat/completions",
        "10.0.0.1",
        dict(headers),
        0.0,
        endpoint=Endpoint.CHAT,
        request=request,
    )


async def _median(gateway: Gateway, headers: dict[str, str], n: int) -> float:
    samples = []
    for _ in range(n):
        ex = _exchange(headers)
        started = time.perf_counter_ns()
        deny = await gateway.pipeline.on_headers(ex) or await gateway.pipeline.on_request(ex)
        samples.append(time.perf_counter_ns() - started)
        assert deny is None, deny  # noqa: S101 - a benchmark of the success path
    return statistics.median(samples) / 1000


async def _bench_local(n: int) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    document = KeySet([key]).as_dict(private=False)
    config = build_config(
        {
            "storage": {"url": "memory://", "counters_url": "memory://"},
            "layers": [
                {
                    "type": "authn",
                    "methods": ["api_key", "jwt"],
                    "issuers": [
                        {
                            "name": "idp",
                            "issuer": "https://idp",
                            "jwks_url": "http://127.0.0.1:9/jwks",
                            "audience": ["vallum"],
                            "roles_claim": "roles",
                        }
                    ],
                },
                {"type": "authz"},
            ],
        },
        source="<bench>",
    )
    gateway = Gateway(config)
    authn: Any = gateway.pipeline.layers[0]

    async def fetch(url: str) -> bytes:
        import orjson

        return orjson.dumps(document)

    authn._jwt._fetch = fetch  # the JWKS is cached in memory, as after the first fetch
    await gateway.start()
    assert gateway.identity is not None  # noqa: S101
    _, issued = await gateway.identity.store.create_key(KeySpec(roles=("user",)), actor="b")
    await gateway.identity.cache.reconcile()
    now = int(time.time())
    claims = {
        "iss": "https://idp",
        "aud": "vallum",
        "sub": "u",
        "exp": now + 3600,
        "roles": ["user"],
    }
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
    api = await _median(gateway, {"authorization": f"Bearer {issued.reveal()}"}, n)
    jwt_memo = await _median(gateway, {"authorization": f"Bearer {token}"}, n)
    authn._jwt._issuers["https://idp"].memo.clear()
    cold = []
    for _ in range(min(n, 2000)):
        authn._jwt._issuers["https://idp"].memo.clear()
        cold.append(await _median(gateway, {"authorization": f"Bearer {token}"}, 1))
    print(f"api key (cached record)        median {api:8.1f} us  (n={n})")
    print(f"jwt (cached JWKS, token memo)  median {jwt_memo:8.1f} us  (n={n})")
    print(
        f"jwt (cached JWKS, full verify) median {statistics.median(cold):8.1f} us  (n={len(cold)})"
    )
    await gateway.stop()


async def _bench_revocation(redis: str, postgres: str, rounds: int) -> None:
    from vallum.clock import SystemClock
    from vallum.identity.service import open_identity
    from vallum.storage import open_storage

    ns = "vb_" + uuid.uuid4().hex[:10]
    opened = [await open_storage(u, namespace=ns) for u in (postgres, redis, postgres, redis)]
    one = open_identity(opened[0], opened[1], SystemClock(), reconcile_interval=30)
    two = open_identity(opened[2], opened[3], SystemClock(), reconcile_interval=30)
    await two.start()
    delays = []
    for _ in range(rounds):
        record, _ = await one.store.create_key(KeySpec(), actor="b")
        while two.cache.key(record.public_id) is None:  # noqa: ASYNC110 - polling is the probe
            await asyncio.sleep(0.0005)
        started = time.perf_counter()
        await one.store.revoke_key(record.public_id, actor="b")
        while (cached := two.cache.key(record.public_id)) is None or cached.revoked_at is None:  # noqa: ASYNC110
            await asyncio.sleep(0.0005)
        delays.append((time.perf_counter() - started) * 1000)
    print(
        f"revocation visible on instance 2: median {statistics.median(delays):.1f} ms, "
        f"max {max(delays):.1f} ms (n={rounds}; pub/sub via Redis, reconcile off)"
    )
    await two.stop()
    await opened[0].drop_namespace()
    await opened[1].drop_namespace()
    for item in opened:
        await item.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--redis")
    parser.add_argument("--postgres")
    args = parser.parse_args()
    asyncio.run(_bench_local(args.n))
    if args.redis and args.postgres:
        asyncio.run(_bench_revocation(args.redis, args.postgres, 50))


if __name__ == "__main__":
    main()
