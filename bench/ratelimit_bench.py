"""Microseconds the ratelimit layer adds per call (on_request + on_complete), in-process and Redis.

    .venv/bin/python bench/ratelimit_bench.py [--redis redis://127.0.0.1:6379/0] [-n 5000]
    .venv/bin/python bench/ratelimit_bench.py --compare base=/tmp/old/src new=src --rounds 6

Each iteration is one admitted call with a key rpm, a key tpm, a concurrency lease and an
IP rpm (four counters, one reserve round trip, one settle round trip). ``on_complete`` does
not wait for the settle's reply: the settle is written with the connection's next command
(here the next call's reserve, which Redis then runs after it, so its time is counted) or
at the end of the event-loop iteration, whichever comes first. The event loop is
uvloop, as ``vallum serve`` runs it (``--loop asyncio`` for the stdlib loop). The ``ping``
row is the floor: one raw RESP ``PING`` round trip on loopback, measured in the same run.

``--compare`` runs the same measurement for several source trees (``name=path/to/src``),
interleaved round by round in fresh processes, and prints each variant's p50 and its ratio
to the first: the machine is shared and noisy, so only same-run ratios are comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

_CONFIGS = (("in-process", "mock-echo"), ("in-process", "gpt-4o"), ("redis", "mock-echo"))
_CONFIGS += (("redis", "gpt-4o"),)


def _exchange(model: str) -> Any:
    from vallum.pipeline.exchange import (
        Endpoint,
        Exchange,
        NormalizedRequest,
        Source,
        TextPart,
        WireFormat,
    )

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
        identity=_who(),
    )


def _who() -> Any:
    from vallum.identity.model import AuthMethod, Identity, PrincipalKind

    return Identity(
        principal_id="bench",
        kind=PrincipalKind.KEY,
        method=AuthMethod.API_KEY,
        credential_id="benchkey",
        quota=(("requests_per_minute", 1e9), ("tokens_per_minute", 1e12), ("max_concurrent", 1e5)),
    )


async def run(url: str, n: int, model: str) -> tuple[list[float], float]:
    """Wall-clock µs per call (after 200 warm-up calls) and process CPU µs per call."""
    from vallum.clock import SystemClock
    from vallum.layers.ratelimit import Ratelimit, RatelimitConfig
    from vallum.pipeline.exchange import Usage
    from vallum.pipeline.layer import LayerContext, Outcome

    done = Outcome(status=200, error_code=None, decided_by=None, duration=0.0)
    config = RatelimitConfig(
        url=url,
        key_prefix="bench_" + uuid.uuid4().hex[:8],
        limits=[{"scope": "ip", "requests_per_minute": 10**9}],  # type: ignore[list-item]
    )
    layer = Ratelimit(config, LayerContext(clock=SystemClock()))
    await layer.start()
    samples: list[float] = []
    cpu = 0.0
    try:
        for i in range(n + 200):
            exchange = _exchange(model)
            cpu_started, started = time.process_time(), time.perf_counter()
            if await layer.on_request(exchange) is not None:
                raise SystemExit("the benchmark call was refused")
            exchange.provider, exchange.status, exchange.usage = "mock", 200, Usage(12, 40)
            await layer.on_complete(exchange, done)
            if i >= 200:  # warm-up: connections, script cache, tokenizer
                samples.append((time.perf_counter() - started) * 1e6)
                cpu += time.process_time() - cpu_started
    finally:
        backend = layer.backend
        if backend is not None and hasattr(backend, "drop"):
            await backend.drop()
        await layer.stop()
    return samples, cpu / n * 1e6


class _Ping(asyncio.Protocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        if self.waiter is not None and data.endswith(b"\r\n"):
            self.waiter.set_result(None)


async def ping(url: str, n: int) -> tuple[list[float], float]:
    """The floor: one raw RESP PING round trip (no client library), as µs."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(
        _Ping, parts.hostname or "127.0.0.1", parts.port or 6379
    )
    transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples: list[float] = []
    cpu = 0.0
    for i in range(n + 200):
        cpu_started, started = time.process_time(), time.perf_counter()
        protocol.waiter = loop.create_future()
        transport.write(b"*1\r\n$4\r\nPING\r\n")
        await protocol.waiter
        if i >= 200:
            samples.append((time.perf_counter() - started) * 1e6)
            cpu += time.process_time() - cpu_started
    transport.close()
    return samples, cpu / n * 1e6


def _loop_runner(loop: str) -> Any:
    if loop == "uvloop":
        import uvloop

        return uvloop.run
    return asyncio.run


def _measure(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    runner = _loop_runner(args.loop)
    results: dict[str, dict[str, Any]] = {}
    samples, cpu = runner(ping(args.redis, args.n))
    results["redis ping (floor)"] = {"samples": samples, "cpu": cpu}
    for label, model in _CONFIGS:
        url = "memory://" if label == "in-process" else args.redis
        samples, cpu = runner(run(url, args.n, model))
        results[f"{label} {model}"] = {"samples": samples, "cpu": cpu}
    return results


def _row(name: str, samples: list[float], cpu: float) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return (
        f"{name:>22}: p50 {cuts[49]:7.1f} us  p90 {cuts[89]:7.1f} us  p99 {cuts[98]:8.1f} us"
        f"  cpu {cpu:6.1f} us/call  (n={len(samples)})"
    )


def _compare(args: argparse.Namespace) -> None:
    variants = [item.split("=", 1) for item in args.compare]
    pooled: dict[str, dict[str, list[float]]] = {name: {} for name, _ in variants}
    cpus: dict[str, dict[str, list[float]]] = {name: {} for name, _ in variants}
    print(f"load average before: {os.getloadavg()}", flush=True)
    for round_no in range(args.rounds):
        order = variants if round_no % 2 == 0 else variants[::-1]
        for name, src in order:
            env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
            with tempfile.NamedTemporaryFile(suffix=".json") as sink:
                command = [sys.executable, __file__, "--worker", sink.name, "-n", str(args.n)]
                command += ["--redis", args.redis, "--loop", args.loop]
                subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
                measured = json.loads(Path(sink.name).read_text())
            for config, result in measured.items():
                pooled[name].setdefault(config, []).extend(result["samples"])
                cpus[name].setdefault(config, []).append(result["cpu"])
        print(f"round {round_no + 1}/{args.rounds} done, load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"load average after: {os.getloadavg()}")
    base = variants[0][0]
    for config in pooled[base]:
        print(f"\n{config}")
        base_p50 = statistics.median(pooled[base][config])
        base_cpu = statistics.median(cpus[base][config])
        for name, _ in variants:
            samples = pooled[name][config]
            cpu = statistics.median(cpus[name][config])
            ratio = statistics.median(samples) / base_p50
            print(f"{_row(name, samples, cpu)}  p50 x{ratio:.2f}  cpu x{cpu / base_cpu:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--compare", nargs="+", metavar="NAME=SRC", help="interleave variants")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--worker", metavar="JSON_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        _compare(args)
        return
    results = _measure(args)
    if args.worker:
        Path(args.worker).write_text(json.dumps(results))
        return
    print(f"load average: {os.getloadavg()}  loop: {args.loop}")
    for name, result in results.items():
        print(_row(name, result["samples"], result["cpu"]))


if __name__ == "__main__":
    main()
