#!/usr/bin/env python3
"""The harness's TTFB probe, direct vs a gateway, with run-queue accounting per request.

    python bench/experiments/ttfb_sched.py MOCK_PID GATEWAY_PID http://127.0.0.1:PORT/v1 \\
        [N=200] [ROUNDS=4]

Alternates blocks of N sequential streamed requests (``harness.ttfb_probe``) against the
mock upstream on 127.0.0.1:18000 and the gateway, and prints per block the TTFB p50/p90
and, from ``/proc/<pid>/task/*/schedstat``, the CPU time and the run-queue wait (runnable
but not running) per request of the mock, the gateway and this client. Shows whether an
added TTFB is scheduling delay (run-queue wait) or waiting on the network (neither).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HARNESS = Path(
    os.environ.get("VALLUM_BENCH_DIR", Path(__file__).resolve().parents[3] / "shared" / "bench")
)
sys.path.insert(0, str(HARNESS))

import harness as H  # noqa: E402


def schedstat(pid: int) -> tuple[int, int]:
    cpu = wait = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()
        cpu += int(fields[0])
        wait += int(fields[1])
    return cpu, wait


def main() -> None:
    mock_pid, gw_pid, gw_url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    bodies = H.make_bodies(tempfile.mkdtemp(), "gpt-4o-mini", "text-embedding-3-small", True)
    pids = {"mock": mock_pid, "gw": gw_pid, "client": os.getpid()}
    for _ in range(rounds):
        for name, url in (("direct", "http://127.0.0.1:18000/v1"), ("gw", gw_url)):
            before = {k: schedstat(p) for k, p in pids.items()}
            t = H.ttfb_probe(url + "/chat/completions", bodies["stream"], {}, n)
            after = {k: schedstat(p) for k, p in pids.items()}
            parts = [
                f"{k}: cpu {(after[k][0] - before[k][0]) / n / 1e6:.3f} "
                f"rq-wait {(after[k][1] - before[k][1]) / n / 1e6:.3f}"
                for k in pids
            ]
            print(
                f"{name:6} ttfb p50 {t['ttfb_p50_ms']:.3f} p90 {t['ttfb_p90_ms']:.3f}  "
                + "  ".join(parts),
                flush=True,
            )
    print("load average", os.getloadavg())


if __name__ == "__main__":
    main()
