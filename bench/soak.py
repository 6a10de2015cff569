#!/usr/bin/env python3
"""`make soak`: the demo's layers at 80 % of the measured maximum RPS for N minutes.

Starts ``vallum serve`` with the demo's configuration (every layer of ``vallum demo``,
state in a temporary directory; the demo's per-key and per-IP rate limits raised so that
one load generator is not simply refused), creates a key, then:

1. measures the maximum RPS: ``--concurrency`` keep-alive connections sending
   non-streamed chat requests back to back for ``--max-seconds``;
2. runs an open-loop load at ``--load`` (default 0.8) of that rate for ``--minutes``
   (default 10, or ``SOAK_MINUTES``): each request has a scheduled send time and its
   latency counts from then, so a stalled gateway shows as latency, not as fewer requests;
3. every ``--interval`` seconds records the gateway's RSS, open file descriptors and the
   interval's latency percentiles and status counts.

The results (every interval, and a summary: RSS growth from the end of the first
interval to the end, fds, overall percentiles) go to ``bench-results/soak-<time>.json``.

    make soak                          # 10 minutes
    make soak ARGS='--minutes 2'       # a short run (or SOAK_MINUTES=2 make soak)
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_bench import free_port, proc_stats, start_server, wait_ready

REPO = Path(__file__).resolve().parent.parent
BODY = json.dumps(
    {"model": "mock-fast", "messages": [{"role": "user", "content": "How is the weather?"}]}
).encode()


def soak_config(port: int) -> dict[str, Any]:
    from hostile_bench import demo_layers_config

    config = demo_layers_config(port)
    for layer in config["layers"]:
        if layer.get("type") == "ratelimit":  # one client at full speed: lift the demo's rates
            layer["limits"] = [
                {"scope": "ip", "requests_per_minute": 10**8},
                {"scope": "key", "requests_per_minute": 10**8, "max_concurrent": 1024},
            ]
    return config


def create_key(config: dict[str, Any]) -> str:
    """A demo key in the gateway's store (the cwd is the gateway's state directory)."""
    from vallum.config import build_config
    from vallum.identity.demo import ensure_demo_key

    return ensure_demo_key(build_config(config))


# --- the load generator (its own process) -------------------------------------------


class Load:
    def __init__(self, port: int, key: str) -> None:
        self.request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: soak\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
        )
        self.port = port
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    async def closed_loop(self, connections: int, seconds: float) -> float:
        deadline = time.monotonic() + seconds
        done = 0

        async def worker() -> None:
            nonlocal done
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            while time.monotonic() < deadline:
                await self._one(reader, writer)
                done += 1
            writer.close()

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return done / (time.monotonic() - started)

    async def open_loop(
        self, connections: int, rate: float, seconds: float, interval: float
    ) -> None:
        start = time.monotonic() + 0.1
        gap = connections / rate
        end = start + seconds

        async def worker(index: int) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            due = start + index * gap / connections
            while due < end:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    await self._one(reader, writer)
                except (OSError, asyncio.IncompleteReadError):
                    self.statuses[0] = self.statuses.get(0, 0) + 1
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.latencies.append(time.monotonic() - due)
                due += gap
            writer.close()

        async def reporter() -> None:
            while time.monotonic() < end:
                await asyncio.sleep(interval)
                self.report()

        await asyncio.gather(reporter(), *(worker(i) for i in range(connections)))
        self.report()

    def report(self) -> None:
        latencies, statuses = self.latencies, self.statuses
        self.latencies, self.statuses = [], {}
        print(json.dumps({"interval": summarize(latencies), "statuses": statuses}), flush=True)


def summarize(latencies: list[float]) -> dict[str, float]:
    if len(latencies) < 2:
        return {"requests": len(latencies)}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p95_ms": round(cuts[94] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def load_main(args: argparse.Namespace) -> int:
    load = Load(args.port, os.environ["SOAK_KEY"])
    if args.rate <= 0:
        rps = asyncio.run(load.closed_loop(args.concurrency, args.max_seconds))
        print(json.dumps({"max_rps": rps, "statuses": load.statuses}), flush=True)
        return 0
    asyncio.run(load.open_loop(args.concurrency, args.rate, args.minutes * 60, args.interval))
    return 0


# --- the driver -----------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    minutes = float(os.environ.get("SOAK_MINUTES", "10"))
    parser.add_argument("--minutes", type=float, default=minutes, help="length of the soak")
    parser.add_argument("--load", type=float, default=0.8, help="share of the maximum RPS")
    parser.add_argument("--concurrency", type=int, default=32, help="connections")
    parser.add_argument("--max-seconds", type=float, default=15, help="max-RPS measurement")
    parser.add_argument("--interval", type=float, default=10, help="seconds per sample")
    parser.add_argument("--out", default=str(REPO / "bench-results"), help="results folder")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def loadgen(args: argparse.Namespace, port: int, key: str, rate: float) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--loadgen", "--port", str(port), "--rate", str(rate)]
    command += ["--concurrency", str(args.concurrency), "--minutes", str(args.minutes)]
    command += ["--max-seconds", str(args.max_seconds), "--interval", str(args.interval)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, "SOAK_KEY": key}
    )


def soak(args: argparse.Namespace, port: int, pid: int, key: str) -> dict[str, Any]:
    probe = loadgen(args, port, key, 0)
    stdout, _ = probe.communicate(timeout=args.max_seconds + 60)
    measured = json.loads(stdout.strip().splitlines()[-1])
    rate = measured["max_rps"] * args.load
    print(f"max RPS {measured['max_rps']:.0f} -> soak at {rate:.0f} RPS", flush=True)
    intervals: list[dict[str, Any]] = []
    started = time.monotonic()
    run = loadgen(args, port, key, rate)
    if run.stdout is None:
        raise SystemExit("no load generator output")
    for line in run.stdout:
        sample = json.loads(line)
        sample["t_s"] = round(time.monotonic() - started, 1)
        sample["server"] = proc_stats(pid)
        intervals.append(sample)
        print(json.dumps(sample), flush=True)
    run.wait()
    return {
        "settings": vars(args),
        "max_rps": round(measured["max_rps"], 1),
        "max_rps_statuses": measured["statuses"],
        "target_rps": round(rate, 1),
        "intervals": intervals,
        "summary": summary(intervals, rate),
    }


def summary(intervals: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    full = [s for s in intervals if s["interval"].get("requests", 0) > 1]
    first, last = full[0]["server"], full[-1]["server"]
    statuses: dict[str, int] = {}
    for sample in intervals:
        for status, count in sample["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    total = sum(s["interval"]["requests"] for s in full)
    seconds = full[-1]["t_s"]
    return {
        "requests": total,
        "achieved_rps": round(total / seconds, 1) if seconds else None,
        "target_rps": round(rate, 1),
        "statuses": statuses,
        "rss_mb_first_interval": first["rss_mb"],
        "rss_mb_end": last["rss_mb"],
        "rss_growth_pct": round(100 * (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"], 1),
        "rss_mb_max": max(s["server"]["rss_mb"] for s in full),
        "open_fds_first_interval": first["open_fds"],
        "open_fds_end": last["open_fds"],
        "open_fds_max": max(s["server"]["open_fds"] for s in full),
        "worst_interval_p99_ms": max(s["interval"]["p99_ms"] for s in full),
        "median_interval_p50_ms": statistics.median(s["interval"]["p50_ms"] for s in full),
        "median_interval_p99_ms": statistics.median(s["interval"]["p99_ms"] for s in full),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.loadgen:
        return load_main(args)
    port = free_port()
    out = Path(args.out).resolve()
    with tempfile.TemporaryDirectory(prefix="vallum-soak-") as tmp:
        config = soak_config(port)
        home = Path.cwd()
        os.chdir(tmp)  # the demo's relative .vallum/ paths land in the temporary directory
        try:
            key = create_key(config)
            server = start_server(config, Path(tmp))
            try:
                wait_ready(port)
                result = soak(args, port, server.pid, key)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        finally:
            os.chdir(home)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"soak-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["summary"], indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
