#!/usr/bin/env python3
"""Parts floods: how long ``/healthz`` waits while a key holder sends many tiny text parts.

    .venv/bin/python bench/parts_flood_bench.py [--parts 16000 2000] [--requests 5] [--json]

Runs the gateway (``validate`` + ``input_guard``, the built-in mock model) under uvicorn on
127.0.0.1 in this process, then for each ``--parts`` count sends ``--requests`` chat
requests whose one user message holds that many one-character text parts, one after the
other, while a probe thread asks ``/healthz`` every 5 ms. Reports the flood requests'
statuses and seconds, and the probe's p50 / p99 / max latency during the flood: the time
the event loop was kept from answering. Loopback only; everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import socket
import statistics
import threading
import time
from typing import Any

import orjson
import uvicorn

from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(port: int) -> uvicorn.Server:
    config = build_config(
        {
            "storage": {"url": "memory://", "counters_url": "memory://"},
            "providers": [{"name": "mock", "type": "mock"}],
            "models": [{"name": "mock-fast", "provider": "mock"}],
            "layers": [{"type": "validate"}, {"type": "input_guard"}],
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(
            GatewayApp(Gateway(config)),
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level="warning",
        )
    )
    threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server


def _probe(port: int, stop: threading.Event, out: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while not stop.is_set():
        started = time.perf_counter()
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        out.append(time.perf_counter() - started)
        time.sleep(0.005)
    conn.close()


def _flood(port: int, parts: int, requests: int) -> dict[str, Any]:
    content = [{"type": "text", "text": "a"}] * parts
    body = orjson.dumps({"model": "mock-fast", "messages": [{"role": "user", "content": content}]})
    latencies: list[float] = []
    stop = threading.Event()
    probe = threading.Thread(target=_probe, args=(port, stop, latencies), daemon=True)
    probe.start()
    time.sleep(0.2)  # the probe's baseline
    latencies.clear()
    statuses, seconds = [], []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(requests):
        started = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        statuses.append(reply.status)
        seconds.append(round(time.perf_counter() - started, 3))
    conn.close()
    stop.set()
    probe.join(60)
    ordered = sorted(latencies)
    return {
        "parts": parts,
        "body_bytes": len(body),
        "statuses": statuses,
        "request_seconds": seconds,
        "healthz_samples": len(ordered),
        "healthz_p50_ms": round(statistics.median(ordered) * 1000, 2),
        "healthz_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
        "healthz_max_ms": round(ordered[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", type=int, nargs="+", default=[16_000, 2_000])
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    port = _free_port()
    server = _serve(port)
    try:
        rows = [_flood(port, parts, args.requests) for parts in args.parts]
    finally:
        server.should_exit = True
    if args.json:
        print(json.dumps(rows))
        return
    for row in rows:
        print(
            f"{row['parts']:>7} parts ({row['body_bytes']} B): statuses {row['statuses']}, "
            f"request s {row['request_seconds']}; /healthz p50 {row['healthz_p50_ms']} ms, "
            f"p99 {row['healthz_p99_ms']} ms, max {row['healthz_max_ms']} ms "
            f"({row['healthz_samples']} probes)"
        )


if __name__ == "__main__":
    main()
