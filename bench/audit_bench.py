"""Audit benchmark: added request-path cost of the audit layer and the writer's throughput.

    .venv/bin/python bench/audit_bench.py [--records 100000] [--postgres URL]

1. Request path: ``Pipeline.on_complete`` timed per call with and without the audit
   layer (writer running, SQLite sink); prints p50/p99 of the difference in µs.
2. Writer: N queued calls -> records -> chain -> spool -> sink, timed until the sink holds
   them all; records/s for PostgreSQL (when reachable) and SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tests.unit.audit.helpers import finding, make_exchange, make_outcome
from vallum.clock import SystemClock
from vallum.layers.audit import Audit, AuditConfig
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.layer import LayerContext

PG = os.environ.get("VALLUM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _layer(tmp: Path, sinks: list[dict[str, Any]], **extra: Any) -> Audit:
    config = AuditConfig.model_validate(
        {
            "type": "audit",
            "sinks": sinks,
            "spool": {"directory": str(tmp / f"spool-{uuid.uuid4().hex[:6]}")},
            "log_format": "keep",
            **extra,
        }
    )
    return Audit(config, LayerContext(clock=SystemClock(), gateway=None))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def request_path(tmp: Path, calls: int) -> None:
    layer = _layer(tmp, [{"type": "sqlite", "path": str(tmp / "path.db")}])
    await layer.start()
    clock = SystemClock()
    with_audit = Pipeline([layer], clock)
    without = Pipeline([], clock)
    exchanges = [make_exchange(n) for n in range(calls)]
    for exchange in exchanges[::7]:
        exchange.findings.append(finding())
    outcome = make_outcome()
    timings: dict[str, list[float]] = {"with": [], "without": []}
    perf = time.perf_counter_ns
    for round_ in range(2):
        for index, exchange in enumerate(exchanges):
            pipeline, key = (with_audit, "with") if index % 2 == round_ else (without, "without")
            start = perf()
            await pipeline.on_complete(exchange, outcome)
            timings[key].append((perf() - start) / 1000)
            if index % 50 == 0:
                await asyncio.sleep(0)  # let the writer run, as the event loop would
    await layer.stop()
    p50 = statistics.median(timings["with"]) - statistics.median(timings["without"])
    p99 = _percentile(timings["with"], 0.99) - _percentile(timings["without"], 0.99)
    print(
        f"request path: on_complete with audit p50 {statistics.median(timings['with']):.2f} µs, "
        f"without {statistics.median(timings['without']):.2f} µs -> added p50 {p50:.2f} µs, "
        f"added p99 {p99:.2f} µs ({calls} calls each)"
    )


async def writer_rate(tmp: Path, label: str, sink: dict[str, Any], records: int) -> None:
    layer = _layer(tmp, [sink], batch_size=2000, checkpoint_every=1000)
    await layer.start()
    writer = layer.writer
    if writer is None:
        raise SystemExit("audit writer did not start")
    exchanges = [make_exchange(n) for n in range(records)]
    outcome = make_outcome()
    start = time.perf_counter()
    for exchange in exchanges:
        writer.submit(exchange, outcome)
    # Polled: the bench waits for the sink to hold every record.
    while writer.queue or writer.states[0].acked < writer.head.seq:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    await layer.stop()
    print(
        f"writer -> {label}: {records} records in {elapsed:.2f} s"
        f" = {records / elapsed:,.0f} records/s"
    )
    if sink["type"] == "postgres":
        from vallum.audit.sinks.postgres import PostgresSink

        cleanup = PostgresSink(sink["url"], sink["schema_name"])
        await cleanup.open()
        await cleanup.drop_schema()
        await cleanup.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--postgres", default=PG)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        await request_path(tmp, args.calls)
        schema = "bench_" + uuid.uuid4().hex[:8]
        try:
            await writer_rate(
                tmp,
                "postgres",
                {"type": "postgres", "url": args.postgres, "schema_name": schema},
                args.records,
            )
        except Exception as exc:
            print(f"writer -> postgres: skipped ({type(exc).__name__})")
        await writer_rate(
            tmp, "sqlite", {"type": "sqlite", "path": str(tmp / "rate.db")}, args.records
        )
        await writer_rate(
            tmp, "jsonl", {"type": "jsonl", "directory": str(tmp / "jsonl")}, args.records
        )


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
