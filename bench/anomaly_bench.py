"""Cost of the anomaly layer on the request path (``on_complete``) and per event off it.

.venv/bin/python bench/anomaly_bench.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from vallum.anomaly.detectors import Detectors
from vallum.anomaly.events import event_from
from vallum.anomaly.signals import Thresholds
from vallum.clock import SystemClock
from vallum.identity.model import AuthMethod, Identity, PrincipalKind
from vallum.layers.anomaly import Anomaly, AnomalyConfig
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

PROMPT = "Summarize the following customer review in one sentence: " + " ".join(
    f"word{i % 97}" for i in range(60)
)


def _exchange(i: int) -> Exchange:
    body = {"model": "m", "messages": [{"role": "user", "content": PROMPT}], "temperature": 0.2}
    request = NormalizedRequest(
        Endpoint.CHAT,
        WireFormat.OPENAI,
        "m",
        False,
        body,
        parts=[TextPart(PROMPT, Source.USER, ("messages", 0, "content"), 0)],
    )
    identity = Identity(
        f"user{i % 50}", PrincipalKind.KEY, AuthMethod.API_KEY, f"key{i % 50:013d}", team="t"
    )
    exchange = Exchange(
        f"req_{i}",
        "POST",
        "/v1/chat/completions",
        f"10.0.{i % 200}.{i % 250}",
        {},
        0.0,
        endpoint=Endpoint.CHAT,
        request=request,
        identity=identity,
    )
    exchange.usage = Usage(80, 40)
    return exchange


async def main(calls: int) -> None:
    layer = Anomaly(AnomalyConfig(queue_size=10_000_000), LayerContext(clock=SystemClock()))
    outcome = Outcome(200, None, None, 0.1)
    exchanges = [_exchange(i) for i in range(calls)]
    samples = []
    for exchange in exchanges:
        started = time.perf_counter_ns()
        await layer.on_complete(exchange, outcome)
        samples.append(time.perf_counter_ns() - started)
    samples.sort()
    print(
        f"on_complete (request path): p50 {samples[len(samples) // 2] / 1000:.1f} µs, "
        f"p99 {samples[int(len(samples) * 0.99)] / 1000:.1f} µs over {calls} calls"
    )
    detectors = Detectors(Thresholds())
    events = [event_from(e, outcome, 1_700_000_000.0 + i * 0.05) for i, e in enumerate(exchanges)]
    costs = []
    for event in events:
        started = time.perf_counter_ns()
        detectors.observe(event)
        costs.append(time.perf_counter_ns() - started)
    print(f"detectors per event (background task): median {statistics.median(costs) / 1000:.1f} µs")
    sizes = [state.size_bytes() for state in detectors.keys.values()]
    print(f"state per active key: max {max(sizes)} bytes (budget 4096)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().calls))
