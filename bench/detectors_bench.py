"""Detector speed: output_filter scan of a 1 KB reply (p50/p99) and MB/s on long text.

Run: ``.venv/bin/python bench/detectors_bench.py``. Numbers go to docs/performance.md.
"""

from __future__ import annotations

import statistics
import time

from vallum.detectors.pii import PiiDetector
from vallum.detectors.secrets import SecretDetector

REPLY = (
    "Sure! I've updated the record for Dr Jason Russell. Their new billing address is "
    "0998 Calvin Cove Suite 316, Alishabury, VI 34736 and phone +44(0)1174960648. "
    "The order shipped on Tuesday and the invoice was sent to the usual mailbox. "
) * 4


def main() -> None:
    pii, secrets = PiiDetector(), SecretDetector()
    reply = REPLY[:1024]
    times = []
    for _ in range(2000):
        start = time.perf_counter()
        pii.detect(reply)
        secrets.detect(reply)
        times.append(time.perf_counter() - start)
    times.sort()
    print(
        f"1 KB reply: p50 {statistics.median(times) * 1e3:.3f} ms, "
        f"p99 {times[int(len(times) * 0.99)] * 1e3:.3f} ms"
    )
    long_text = REPLY * 400
    start = time.perf_counter()
    pii.detect(long_text)
    secrets.detect(long_text)
    spent = time.perf_counter() - start
    print(f"long text {len(long_text) / 1e6:.2f} MB: {len(long_text) / spent / 1e6:.2f} MB/s")


if __name__ == "__main__":
    main()
