#!/usr/bin/env python3
"""Interleaved A/B(/C…) runs of Vallum variants on the shared harness, reported as ratios.

Each variant is started by ``bench/experiments/launch.py`` with its own arguments
(another ``--src`` snapshot, ``--server granian``, ``--client aiohttp`` …) on its own port;
the cells of all variants are measured in rotation inside every repetition, so drift of
the shared machine hits all of them alike. Ratios are against the first variant.

    .venv/bin/python bench/compare.py --reps 3 --duration 5 \\
        --variant 'before=--src bench-results/snap-0/src' --variant 'after='
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LAUNCH = REPO / "bench" / "experiments" / "launch.py"
MOCK_PORT = 18000


def _harness() -> Any:
    bench = Path(os.environ.get("VALLUM_BENCH_DIR", REPO.parent / "shared" / "bench")).resolve()
    sys.path.insert(0, str(bench))
    import harness

    return harness


def _start(name: str, args: str, port: int, logdir: Path) -> subprocess.Popen[bytes]:
    log = (logdir / f"{name}.log").open("wb")
    cmd = [sys.executable, str(LAUNCH), "--port", str(port), *shlex.split(args)]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def _ready(proc: subprocess.Popen[bytes], port: int) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"variant on :{port} exited early")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"variant on :{port} not ready")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}"


def report(
    h: Any,
    names: list[str],
    cells: list[dict[str, Any]],
    ttfb: list[dict[str, Any]],
    idle: dict[str, float],
) -> str:
    rows = {(r["setup"], r["mode"], r["conc"]): r for r in h.summarize(cells)}
    keys = sorted({(m, c) for _, m, c in rows})
    lines = [
        "| variant | mode | conc | RPS | p50 ms | p99 ms | CPU-ms/req | CPU spread % "
        "| CPU ratio | RPS ratio | other cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, conc in keys:
        base = rows.get((names[0], mode, conc))
        for name in names:
            r = rows.get((name, mode, conc))
            if r is None or base is None:
                continue
            lines.append(
                f"| {name} | {mode} | {conc} | {h.fmt(r['rps'], 0)} | {h.fmt(r['p50_ms'])} "
                f"| {h.fmt(r['p99_ms'])} | {h.sig(r['gw_cpu_s_per_1k'])} "
                f"| {h.fmt(r['cpu1k_spread_pct'], 1)} "
                f"| {_ratio(r['gw_cpu_s_per_1k'], base['gw_cpu_s_per_1k'])} "
                f"| {_ratio(r['rps'], base['rps'])} | {h.fmt(r['other_cores'])} |"
            )
    lines += ["", "| variant | stream TTFB p50 ms (c=1) | idle RSS MB |", "|---|---|---|"]
    for name in names:
        t = h.median([x["ttfb_p50_ms"] for x in ttfb if x["setup"] == name])
        lines.append(f"| {name} | {h.fmt(t)} | {idle.get(name, '-')} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", action="append", required=True, help="NAME=launch.py args")
    ap.add_argument("--modes", default="chat,stream")
    ap.add_argument("--conc", default="32")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--prewarm", type=int, default=2)
    ap.add_argument("--ttfb-probe", type=int, default=50)
    ap.add_argument("--out", default=str(REPO / "bench-results"))
    a = ap.parse_args()
    h = _harness()
    variants = [v.split("=", 1) for v in a.variant]
    names = [n for n, _ in variants]
    modes = a.modes.split(",")
    concs = [int(c) for c in a.conc.split(",")]
    work = Path(tempfile.mkdtemp(prefix="vallum-compare-"))
    mock_python = Path(tempfile.gettempdir()) / "anchors" / "bench-venv" / "bin" / "python"
    mock = h.start_mock(
        MOCK_PORT, 0, 0, str(mock_python) if mock_python.exists() else sys.executable, str(work)
    )
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for i, (name, args) in enumerate(variants):
            port = 18481 + i
            procs[name] = (_start(name, args, port, work), port)
        for proc, port in procs.values():
            _ready(proc, port)
        mock_pids = h.listen_pids(MOCK_PORT)
        bodies = h.make_bodies(str(work), "gpt-4o-mini", "text-embedding-3-small", False)
        base = {n: f"http://127.0.0.1:{p}/v1" for n, (_, p) in procs.items()}
        for name in names:
            pf = h.preflight(base[name], {}, bodies, modes, MOCK_PORT)
            if not all(v["ok"] for v in pf.values()):
                raise SystemExit(f"preflight failed for {name}: {json.dumps(pf)}")
            for mode in modes:
                h.run_wrk(base[name] + h.MODES[mode], bodies[mode], {}, max(concs), a.prewarm)
        gw = {n: h.listen_pids(p) for n, (_, p) in procs.items()}
        time.sleep(2)
        idle = {n: round(h.tree_cpu_rss(h.descendants(gw[n]))[1] / 1024, 1) for n in names}
        stamp = time.strftime("%Y%m%d-%H%M%S")
        jsonl = Path(a.out) / f"compare-{stamp}.jsonl"
        cells: list[dict[str, Any]] = []
        ttfb: list[dict[str, Any]] = []
        with jsonl.open("w") as f:
            f.write(
                json.dumps({"meta": {"variants": variants, "args": vars(a), "idle": idle}}) + "\n"
            )
            for rep in range(a.reps):
                k = rep % len(names)
                for name in names[k:] + names[:k]:
                    for mode in modes:
                        for conc in concs:
                            c = h.measure_cell(
                                name,
                                base[name],
                                {},
                                mode,
                                conc,
                                bodies,
                                gw[name],
                                mock_pids,
                                MOCK_PORT,
                                a.duration,
                                a.warmup,
                            )
                            c["rep"] = rep
                            cells.append(c)
                            f.write(json.dumps(c) + "\n")
                            print(
                                f"rep {rep} {name:<12} {mode:<6} c={conc:<3} rps={c['rps']:<9} "
                                f"cpu/1k={c['gw_cpu_s_per_1k']} other={c['other_cores']}",
                                flush=True,
                            )
                    if a.ttfb_probe and "stream" in modes:
                        t = h.ttfb_probe(
                            base[name] + h.MODES["stream"], bodies["stream"], {}, a.ttfb_probe
                        )
                        t.update(setup=name, rep=rep)
                        ttfb.append(t)
                        f.write(json.dumps({"ttfb": t}) + "\n")
        text = report(h, names, cells, ttfb, idle)
        md = jsonl.with_suffix(".md")
        md.write_text("variants: " + json.dumps(variants) + "\n\n" + text + "\n")
        print("\n" + text + f"\n\nraw: {jsonl}\nsummary: {md}")
    finally:
        for proc, _ in procs.values():
            _stop(proc)
        h.stop_proc(mock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
