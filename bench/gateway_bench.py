#!/usr/bin/env python3
"""`make bench`: Vallum against a direct call to the same mock upstream, in one interleaved run.

Starts Vallum (``bench/vallum-bench.yaml``: ``gpt-4o-mini`` and ``text-embedding-3-small``
routed to the shared harness's mock upstream on 127.0.0.1:18000, ``validate`` layer,
``memory://`` storage), waits for ``/readyz``, runs the shared harness
(``anchors.py --setups direct[,nginx,litellm,portkey] --gateway …``) for chat and stream at
concurrency 1 and 32, prints the table and the targets of issue 2, and stops everything
it started (by PID).

    make bench                      # 3 reps x 10 s cells (about 6 minutes)
    make bench ARGS=--quick         # 1 rep x 3 s cells (about 1 minute)
    make bench ARGS='--anchors'     # + nginx / LiteLLM / Portkey when installed

The harness lives in ``../shared/bench`` next to the repo (override: VALLUM_BENCH_DIR).
Results (JSON Lines + markdown) go to ``bench-results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "bench" / "vallum-bench.yaml"
LABEL = "vallum"
ANCHOR_SETUPS = ("nginx", "litellm", "portkey")

# Issue 2, "Targets" (this 2-core machine): (label, key, limit, lower_is_better)
TARGETS = (
    ("non-streamed CPU-ms/req (c=32)", "cpu_chat", 0.4, True),
    ("streamed CPU-ms/req (c=32, 20 chunks)", "cpu_stream", 0.8, True),
    ("RPS at c=32 (non-streamed)", "rps_chat32", 2000.0, False),
    ("added TTFB, streamed (ms, p50, c=1)", "added_ttfb", 0.5, True),
    ("idle RSS (MB)", "idle_rss", 80.0, True),
    ("added p50 latency over direct, c=1 (ms)", "added_p50", 1.0, True),
)


def harness_dir() -> Path:
    return Path(os.environ.get("VALLUM_BENCH_DIR", REPO.parent / "shared" / "bench")).resolve()


def anchors_home() -> Path:
    return Path(os.environ.get("ANCHORS", Path(tempfile.gettempdir()) / "anchors"))


def installed_anchors() -> list[str]:
    """The anchor gateways that anchors/setup.sh has installed on this machine."""
    home = anchors_home()
    found = []
    if any((Path(p) / "nginx").exists() for p in os.environ.get("PATH", "").split(":")):
        found.append("nginx")
    if (home / "litellm-venv" / "bin" / "litellm").exists():
        found.append("litellm")
    if (home / "portkey" / "node_modules" / "@portkey-ai" / "gateway").exists():
        found.append("portkey")
    return found


def start_vallum(port: int, workers: int, logdir: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, VALLUM_BENCH_PORT=str(port), VALLUM_BENCH_WORKERS=str(workers))
    log = (logdir / "vallum.log").open("wb")
    cmd = [sys.executable, "-m", "vallum.cli.main", "serve", "--config", str(CONFIG)]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/readyz"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vallum exited early (rc={proc.returncode}); see its log")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"vallum not ready on :{port} after {timeout:.0f}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 rep, 3 s cells (a smoke run)")
    ap.add_argument("--anchors", action="store_true", help="also nginx/LiteLLM/Portkey")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3)")
    ap.add_argument("--duration", type=int, default=None, help="seconds per cell (default 10)")
    ap.add_argument("--modes", default="chat,stream")
    ap.add_argument("--conc", default="1,32")
    ap.add_argument("--port", type=int, default=18480, help="Vallum's port (default 18480)")
    ap.add_argument("--workers", type=int, default=1, help="Vallum worker processes")
    ap.add_argument("--out", default=str(REPO / "bench-results"))
    return ap.parse_known_args(argv)


def harness_command(args: argparse.Namespace, extra: list[str], setups: list[str]) -> list[str]:
    reps = args.reps if args.reps is not None else (1 if args.quick else 3)
    duration = args.duration if args.duration is not None else (3 if args.quick else 10)
    cmd = [sys.executable, str(harness_dir() / "anchors.py"), "--setups", ",".join(setups)]
    cmd += ["--gateway", f"http://127.0.0.1:{args.port}/v1", "--label", LABEL]
    cmd += ["-H", "Authorization: Bearer sk-vallum-bench"]
    cmd += ["--modes", args.modes, "--conc", args.conc, "--reps", str(reps)]
    cmd += ["--duration", str(duration), "--out", args.out]
    if args.quick:
        cmd += ["--warmup", "1", "--prewarm", "2", "--ttfb-probe", "30"]
    return cmd + extra


def run_harness(cmd: list[str]) -> Path:
    """Run anchors.py, echoing its output; returns its JSON Lines result file."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
    assert proc.stdout is not None  # noqa: S101 - PIPE above
    raw = None
    for line in iter(proc.stdout.readline, b""):
        text = line.decode(errors="replace")
        sys.stdout.write(text)
        sys.stdout.flush()
        found = re.match(r"^raw: (\S+\.jsonl)", text)
        if found:
            raw = Path(found.group(1))
    if proc.wait() != 0 or raw is None:
        raise SystemExit(f"the harness failed (rc={proc.returncode})")
    return raw


def load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    meta: dict[str, Any] = {}
    cells: list[dict[str, Any]] = []
    ttfb: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        item = json.loads(line)
        if "meta" in item:
            meta = item["meta"]
        elif "ttfb" in item:
            ttfb.append(item["ttfb"])
        elif "setup" in item:
            cells.append(item)
    return meta, cells, ttfb


def _median(values: list[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def _spread(values: list[float | None]) -> str:
    clean = [v for v in values if v is not None]
    if len(clean) < 2 or not statistics.median(clean):
        return "-"
    return f"{(max(clean) - min(clean)) / statistics.median(clean) * 100:.0f}%"


def _cell(cells: list[dict[str, Any]], setup: str, mode: str, conc: int, key: str) -> Any:
    return _median(
        [c[key] for c in cells if (c["setup"], c["mode"], c["conc"]) == (setup, mode, conc)]
    )


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"


def summary(meta: dict[str, Any], cells: list[dict[str, Any]], ttfb: list[dict[str, Any]]) -> str:
    setups = list(dict.fromkeys(c["setup"] for c in cells))
    lines = [
        "| setup | mode | conc | RPS | p50 ms | p99 ms | CPU-ms/req | CPU spread "
        "| added p50 ms | other cores |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups = sorted(
        {(c["setup"], c["mode"], c["conc"]) for c in cells},
        key=lambda g: (setups.index(g[0]), g[1], g[2]),
    )
    for setup, mode, conc in groups:
        mine = [c for c in cells if (c["setup"], c["mode"], c["conc"]) == (setup, mode, conc)]
        p50 = _median([c["p50_ms"] for c in mine])
        direct = _cell(cells, "direct", mode, conc, "p50_ms")
        added = None if setup == "direct" or direct is None or p50 is None else p50 - direct
        lines.append(
            f"| {setup} | {mode} | {conc} | {_num(_median([c['rps'] for c in mine]))} "
            f"| {_num(p50)} | {_num(_median([c['p99_ms'] for c in mine]))} "
            f"| {_num(_median([c['gw_cpu_s_per_1k'] for c in mine]))} "
            f"| {_spread([c['gw_cpu_s_per_1k'] for c in mine])} | {_num(added)} "
            f"| {_num(_median([c['other_cores'] for c in mine]), 2)} |"
        )
    lines += [
        "",
        "| setup | TTFB p50 ms (c=1) | added TTFB ms | idle RSS MB |",
        "|---|---|---|---|",
    ]
    direct_ttfb = _median([t["ttfb_p50_ms"] for t in ttfb if t["setup"] == "direct"])
    for setup in setups:
        mine_t = _median([t["ttfb_p50_ms"] for t in ttfb if t["setup"] == setup])
        added_t = (
            None
            if setup == "direct" or mine_t is None or direct_ttfb is None
            else mine_t - direct_ttfb
        )
        rss = (
            meta.get("setups", {}).get(setup, {}).get("idle_rss_mb") if setup != "direct" else None
        )
        lines.append(f"| {setup} | {_num(mine_t)} | {_num(added_t)} | {_num(rss)} |")
    return "\n".join(lines)


def target_values(
    meta: dict[str, Any], cells: list[dict[str, Any]], ttfb: list[dict[str, Any]]
) -> dict[str, float | None]:
    def ttfb_of(setup: str) -> float | None:
        return _median([t["ttfb_p50_ms"] for t in ttfb if t["setup"] == setup])

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b

    return {
        "cpu_chat": _cell(cells, LABEL, "chat", 32, "gw_cpu_s_per_1k"),
        "cpu_stream": _cell(cells, LABEL, "stream", 32, "gw_cpu_s_per_1k"),
        "rps_chat32": _cell(cells, LABEL, "chat", 32, "rps"),
        "added_ttfb": diff(ttfb_of(LABEL), ttfb_of("direct")),
        "idle_rss": meta.get("setups", {}).get(LABEL, {}).get("idle_rss_mb"),
        "added_p50": diff(
            _cell(cells, LABEL, "chat", 1, "p50_ms"), _cell(cells, "direct", "chat", 1, "p50_ms")
        ),
    }


def targets_table(values: dict[str, float | None]) -> str:
    lines = ["| target (issue 2) | limit | measured | verdict |", "|---|---|---|---|"]
    for label, key, limit, lower in TARGETS:
        value = values.get(key)
        if value is None:
            verdict = "not measured"
        else:
            ok = value <= limit if lower else value >= limit
            verdict = "met" if ok else f"MISSED by {abs(value - limit) / limit * 100:.0f}%"
        lines.append(f"| {label} | {'≤' if lower else '≥'} {limit:g} | {_num(value)} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    bench = harness_dir()
    if not (bench / "anchors.py").exists():
        raise SystemExit(f"harness not found at {bench} (set VALLUM_BENCH_DIR)")
    setups = ["direct"]
    if args.anchors:
        have = installed_anchors()
        missing = [name for name in ANCHOR_SETUPS if name not in have]
        if missing:
            print(f"anchors not installed (bash {bench}/anchors/setup.sh): {', '.join(missing)}")
        setups += [name for name in ANCHOR_SETUPS if name in have]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    logdir = Path(tempfile.mkdtemp(prefix="vallum-bench-"))
    proc = start_vallum(args.port, args.workers, logdir)
    try:
        wait_ready(proc, args.port)
        raw = run_harness(harness_command(args, extra, setups))
    finally:
        stop(proc)
    meta, cells, ttfb = load(raw)
    report = "\n\n".join(
        [
            "## Vallum vs direct (medians over reps; CPU-ms/req = gateway CPU per request)",
            summary(meta, cells, ttfb),
            targets_table(target_values(meta, cells, ttfb)),
        ]
    )
    print("\n" + report)
    summary_path = raw.with_name(raw.stem + "-vallum.md")
    summary_path.write_text(report + "\n")
    print(f"\nraw: {raw}\nsummary: {summary_path}\nvallum log: {logdir / 'vallum.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
