"""Cascade band share: how much of a benign mix the fast tier would hand to later tiers.

    .venv/bin/python bench/cascade_bench.py [--rows 300] [--injection 0.2 0.9]
        [--content 0.3 0.95] [--short 0] [--json]

For every benign file of ``../shared/data/benign`` (``chat_*`` read as user turns, ``doc_*``
as documents), up to ``--rows`` rows go through the default input guard's fast detectors
(exactly ``scan_part``), and each kind's cascade says whether it would consult its later
tiers: the share that would reach a semantic model or an HTTP guard at that band. No tier
is called. Also reports the fast scan's p50 per text and the cost of the band decision.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

from vallum.clock import SystemClock
from vallum.detectors.base import Source
from vallum.detectors.cascade import Cascade, TierSettings, TierVerdict
from vallum.layers.input_guard import InputGuard, InputGuardConfig
from vallum.pipeline.exchange import TextPart
from vallum.pipeline.layer import LayerContext

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "benign"


class _Never:
    """A tier that is never called here: the bench counts who *would* be consulted."""

    name, version, kinds = "count-only", "0", frozenset({"injection", "content"})

    async def score(self, texts: Sequence[str], source: Source) -> list[TierVerdict]:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def _rows(path: Path, limit: int, seed: int) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    random.Random(seed).shuffle(texts)
    return texts[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--injection", type=float, nargs=2, default=(0.2, 0.9))
    parser.add_argument("--content", type=float, nargs=2, default=(0.3, 0.95))
    parser.add_argument("--short", type=int, default=0, help="content short_chars")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    guard = InputGuard(InputGuardConfig(), LayerContext(clock=SystemClock()))
    settings = TierSettings(type="count-only")
    cascades = {
        "injection": Cascade("injection", [(_Never(), settings)], tuple(args.injection)),
        "content": Cascade("content", [(_Never(), settings)], tuple(args.content), args.short),
    }
    report: dict[str, dict[str, float]] = {}
    totals = {"texts": 0, "injection": 0, "content": 0, "any": 0}
    scan_times: list[float] = []
    decide_times: list[float] = []
    for path in sorted(DATA.glob("*.jsonl")):
        source = Source.USER if path.name.startswith("chat_") else Source.DOCUMENT
        counts = {"texts": 0, "injection": 0, "content": 0, "any": 0}
        for text in _rows(path, args.rows, args.seed):
            started = time.perf_counter()
            scan = guard.scan_part(TextPart(text, source, ()))
            middle = time.perf_counter()
            asked = {
                name
                for name, cascade in cascades.items()
                if name in scan.inspections and cascade.consults(scan.inspections[name], source)
            }
            decide_times.append(time.perf_counter() - middle)
            scan_times.append(middle - started)
            counts["texts"] += 1
            counts["any"] += bool(asked)
            for name in asked:
                counts[name] += 1
        for key in totals:
            totals[key] += counts[key]
        report[path.stem] = {
            k: counts[k] / counts["texts"] for k in ("injection", "content", "any")
        }
        report[path.stem]["texts"] = counts["texts"]
    report["pooled"] = {k: totals[k] / totals["texts"] for k in ("injection", "content", "any")}
    report["pooled"]["texts"] = totals["texts"]
    scan_times.sort()
    decide_times.sort()
    timing = {
        "fast_scan_p50_ms": 1000 * scan_times[len(scan_times) // 2],
        "band_decision_p50_us": 1e6 * decide_times[len(decide_times) // 2],
    }
    if args.json:
        print(json.dumps({"share": report, "timing": timing}, indent=2))
        return
    print(f"{'file':42s} {'texts':>6s} {'injection':>10s} {'content':>8s} {'any':>6s}")
    for name, row in report.items():
        print(
            f"{name:42s} {int(row['texts']):6d} {row['injection']:10.1%} "
            f"{row['content']:8.1%} {row['any']:6.1%}"
        )
    print(
        f"fast scan p50 {timing['fast_scan_p50_ms']:.3f} ms per text; "
        f"band decision p50 {timing['band_decision_p50_us']:.2f} µs"
    )


if __name__ == "__main__":
    main()
