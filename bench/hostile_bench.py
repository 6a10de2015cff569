#!/usr/bin/env python3
"""`/healthz` latency while hostile clients hold connections and stream huge request heads.

Starts ``vallum serve`` with the demo's layers (state in a temporary directory), measures
``/healthz`` (a new connection per probe, as a load balancer's health check) at rest,
then again while an attacker process runs:

- ``--slow`` clients (default 1000) that each send half a request head and then one more
  header byte a second, reconnecting whenever the gateway closes them (spread over eight
  loopback addresses, so each address stays under the per-client connection cap);
- ``--heads`` clients (default 8) that each try to stream a ``--head-mib`` MiB (default 64)
  request head, reconnecting after every refusal until that many bytes have been sent.

Prints p50/p95/p99/max of the probes, the server's RSS and open file descriptors, and what
the attackers achieved; writes the same as JSON to ``bench-results/hostile-<time>.json``.

    .venv/bin/python bench/hostile_bench.py                # about 1 minute
    .venv/bin/python bench/hostile_bench.py --slow 200 --heads 2 --probes 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SLOW_SOURCES = [f"127.0.0.{n}" for n in range(2, 10)]
HEAD_SOURCES = [f"127.0.0.{n}" for n in range(20, 28)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_layers_config(port: int) -> dict[str, Any]:
    """The demo's configuration (``vallum demo``), on ``port``; paths relative to the cwd."""
    from vallum.cli.serve import demo_config

    data: dict[str, Any] = demo_config(port).model_dump(mode="json", exclude_defaults=True)
    data["server"] = {"host": "127.0.0.1", "port": port}
    return data


def start_server(config: dict[str, Any], workdir: Path) -> subprocess.Popen[bytes]:
    path = workdir / "vallum.yaml"
    path.write_text(yaml.safe_dump(config))
    log = (workdir / "server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "vallum.cli.main", "serve", "--config", str(path)],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if probe(port, "/readyz")[0] == 200:
                return
        time.sleep(0.1)
    raise SystemExit("the gateway did not become ready")


def probe(port: int, path: str = "/healthz") -> tuple[int, float]:
    """Status and seconds of one GET on a new connection."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, time.perf_counter() - started


def proc_stats(pid: int) -> dict[str, float]:
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return {"rss_mb": round(rss, 1), "open_fds": len(os.listdir(f"/proc/{pid}/fd"))}


class Sampler:
    """The largest RSS and open-fd count of ``pid`` seen, sampled every 0.2 s in a thread."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid = pid
        self.peak = proc_stats(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(OSError):
                now = proc_stats(self.pid)
                self.peak = {k: max(self.peak[k], now[k]) for k in now}

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.peak


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49] * 1000, 2),
        "p95_ms": round(cuts[94] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def run_probes(port: int, count: int, gap: float) -> dict[str, Any]:
    latencies, statuses = [], {}
    for _ in range(count):
        try:
            status, seconds = probe(port)
        except OSError:
            status, seconds = 0, 10.0
        statuses[status] = statuses.get(status, 0) + 1
        latencies.append(seconds)
        time.sleep(gap)
    return {**percentiles(latencies), "statuses": statuses, "probes": count}


# --- the attacker process --------------------------------------------------------------


class Attack:
    def __init__(self, port: int, slow: int, heads: int, head_bytes: int) -> None:
        self.port, self.slow, self.heads, self.head_bytes = port, slow, heads, head_bytes
        self.held = 0
        self.slow_connects = 0
        self.head_written = 0
        self.head_refused = 0
        self.head_connects = 0
        self.all_held = asyncio.Event()

    async def slow_client(self, index: int) -> None:
        source = SLOW_SOURCES[index % len(SLOW_SOURCES)]
        while True:
            try:
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, local_addr=(source, 0)
                )
            except OSError:
                await asyncio.sleep(0.5)
                continue
            self.slow_connects += 1
            self.held += 1
            if self.held >= self.slow:
                self.all_held.set()
            try:
                writer.write(b"GET /v1/models HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
                while not writer.is_closing():
                    await writer.drain()
                    await asyncio.sleep(1.0)
                    writer.write(b"a")
            except OSError:
                pass
            finally:
                self.held -= 1
                writer.close()

    async def head_client(self, index: int) -> None:
        source = HEAD_SOURCES[index % len(HEAD_SOURCES)]
        piece = b"a" * 65536
        sent = 0
        while sent < self.head_bytes:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, local_addr=(source, 0)
                )
            except OSError:
                await asyncio.sleep(0.1)
                continue
            self.head_connects += 1
            try:
                writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nX-Big: ")
                while sent < self.head_bytes:
                    writer.write(piece)
                    await writer.drain()  # in the kernel's buffers, not yet read by the server
                    sent += len(piece)
                    self.head_written += len(piece)
                    if reader.at_eof() or writer.is_closing():
                        self.head_refused += 1
                        break
                    await asyncio.sleep(0)
            except OSError:
                self.head_refused += 1
            finally:
                writer.close()

    async def run(self, seconds: float) -> dict[str, Any]:
        tasks = [asyncio.ensure_future(self.slow_client(i)) for i in range(self.slow)]
        await self.all_held.wait()
        print("ready", flush=True)
        heads = [asyncio.ensure_future(self.head_client(i)) for i in range(self.heads)]
        await asyncio.sleep(seconds)
        result = {
            "slow_held_at_end": self.held,
            "slow_connects": self.slow_connects,
            "head_connects": self.head_connects,
            "head_refused": self.head_refused,
            "head_mib_written": round(self.head_written / 2**20, 1),
            "head_streams_finished": sum(1 for task in heads if task.done()),
        }
        for task in tasks + heads:
            task.cancel()
        return result


def attacker_main(args: argparse.Namespace) -> int:
    attack = Attack(args.port, args.slow, args.heads, args.head_mib * 2**20)
    result = asyncio.run(attack.run(args.seconds))
    print(json.dumps(result), flush=True)
    return 0


# --- the measuring process -------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--slow", type=int, default=1000, help="slow clients held")
    parser.add_argument("--heads", type=int, default=8, help="clients streaming big heads")
    parser.add_argument("--head-mib", type=int, default=64, help="MiB each head client sends")
    parser.add_argument("--probes", type=int, default=1000, help="/healthz probes per phase")
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between probes")
    parser.add_argument("--out", default=str(REPO / "bench-results"), help="results folder")
    parser.add_argument("--attacker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attacker:
        return attacker_main(args)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="vallum-hostile-") as tmp:
        server = start_server(demo_layers_config(port), Path(tmp))
        try:
            wait_ready(port)
            result = measure(args, port, server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"hostile-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print_table(result)
    print(f"\nwritten to {path}")
    return 0


def measure(args: argparse.Namespace, port: int, pid: int) -> dict[str, Any]:
    before = proc_stats(pid)
    at_rest = run_probes(port, args.probes, args.gap)
    seconds = args.probes * (args.gap + 0.005) + 5
    sizes = ["--slow", str(args.slow), "--heads", str(args.heads), "--head-mib", str(args.head_mib)]
    attacker = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--attacker",
            "--port",
            str(port),
            "--seconds",
            str(seconds),
            *sizes,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if attacker.stdout is None or attacker.stdout.readline().strip() != "ready":
            raise SystemExit("the attacker did not get its slow clients connected")
        sampler = Sampler(pid)
        time.sleep(0.5)  # the head streams are under way
        under_attack = run_probes(port, args.probes, args.gap)
        peak = sampler.stop()
        attack = json.loads(attacker.stdout.readline())
        attacker.wait(timeout=30)
    finally:
        if attacker.poll() is None:
            attacker.kill()
            attacker.wait()
    time.sleep(2)
    return {
        "settings": {k: getattr(args, k) for k in ("slow", "heads", "head_mib", "probes", "gap")},
        "at_rest": at_rest,
        "under_attack": under_attack,
        "attack": attack,
        "server": {"before": before, "peak_under_attack": peak, "after": proc_stats(pid)},
    }


def print_table(result: dict[str, Any]) -> None:
    print("| phase | p50 ms | p95 ms | p99 ms | max ms | statuses |")
    print("|---|---|---|---|---|---|")
    for phase in ("at_rest", "under_attack"):
        row = result[phase]
        cells = [row["p50_ms"], row["p95_ms"], row["p99_ms"], row["max_ms"], row["statuses"]]
        print(f"| {phase} | " + " | ".join(str(c) for c in cells) + " |")
    print("\nserver:", json.dumps(result["server"]))
    print("attack:", json.dumps(result["attack"]))


if __name__ == "__main__":
    sys.exit(main())
