"""Microseconds the ratelimit layer adds per call (on_request + on_complete), in-process and Redis.

    .venv/bin/python bench/ratelimit_bench.py [--redis redis://127.0.0.1:6379/0] [-n 5000]

Each iteration is one admitted call with a key rpm, a key tpm, a concurrency lease and an
IP rpm (four counters, one reserve round trip, one settle round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from vallum.clock import SystemClock
from vallum.identity.model import AuthMethod, Identity, PrincipalKind
from vallum.layers.ratelimit import Ratelimit, RatelimitConfig
from vallum.pipeline.exchange import (
    Endpoint,
    Exchange,
    NormalizedRequest,
    Source,
    TextPart,
    Usage,
    WireFormat,
)
from vallum.pipeline.layer import LayerContext, Outcome

_DONE = Outcome(status=200, error_code=None, decided_by=None, duration=0.0)
_WHO = Identity(
    principal_id="bench",
    kind=PrincipalKind.KEY,
    method=AuthMethod.API_KEY,
    credential_id="benchkey",
    quota=(("requests_per_minute", 1e9), ("tokens_per_minute", 1e12), ("max_concurrent", 1e5)),
)


def _exchange(model: str) -> Exchange:
    request = NormalizedRequest(
        endpoint=Endpoint.CHAT,
        wire=WireFormat.OPENAI,
        model=model,
        stream=False,
        body={"model": model, "max_tokens": 64},
        parts=[TextPart("Summarise the attached report in three bullet points.", Source.USER, ())],
        message_count=1,
    )
    return Exchange(
        request_id="req",
        method="POST",
        path="/v1/chat/completions",
        client_ip="10.0.0.1",
        headers={},
        started=0.0,
        endpoint=Endpoint.CHAT,
        request=request,
        identity=_WHO,
    )


async def run(url: str, n: int, model: str) -> list[float]:
    config = RatelimitConfig(
        url=url,
        key_prefix="bench_" + uuid.uuid4().hex[:8],
        limits=[{"scope": "ip", "requests_per_minute": 10**9}],  # type: ignore[list-item]
    )
    layer = Ratelimit(config, LayerContext(clock=SystemClock()))
    await layer.start()
    samples: list[float] = []
    try:
        for i in range(n + 200):
            exchange = _exchange(model)
            started = time.perf_counter()
            if await layer.on_request(exchange) is not None:
                raise SystemExit("the benchmark call was refused")
            exchange.provider, exchange.status, exchange.usage = "mock", 200, Usage(12, 40)
            await layer.on_complete(exchange, _DONE)
            if i >= 200:  # warm-up: connections, script cache, tokenizer
                samples.append((time.perf_counter() - started) * 1e6)
    finally:
        backend = layer.backend
        if backend is not None and hasattr(backend, "drop"):
            await backend.drop()
        await layer.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("-n", type=int, default=5000)
    args = parser.parse_args()
    for label, url in (("in-process", "memory://"), ("redis", args.redis)):
        for model in ("mock-echo", "gpt-4o"):
            samples = asyncio.run(run(url, args.n, model))
            cuts = statistics.quantiles(samples, n=100)
            print(
                f"{label:>10} {model:>9}: p50 {cuts[49]:7.1f} us  p90 {cuts[89]:7.1f} us  "
                f"p99 {cuts[98]:7.1f} us  (n={len(samples)}, reserve + settle)"
            )


if __name__ == "__main__":
    main()
