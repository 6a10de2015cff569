"""Detector speed: the output filter's scan (PII + secrets) of a 1 KB reply and of long texts.

Run: ``.venv/bin/python bench/detectors_bench.py [--breakdown]``. Numbers go to
docs/performance.md ("Detectors").

Every iteration scans a *different* reply (the digits and names of the template are
redrawn), so the phone-validation cache cannot make a repeated text look free. Times are
CPU time of this process (``time.process_time``) — on a shared machine that is steadier
than wall time — and wall time beside it.

- ``1 KB reply``: the PII-dense support-bot reply of the pii_synth_dev set (a person, an
  address and a phone number every 250 characters), p50 / p99 over 2,000 replies.
- ``long dense``: 370 KB of the same; ``long prose``: the benign documents of
  ``../shared/data/benign`` (e-mails, wiki, READMEs: real prose with a few entities).
- ``--breakdown``: milliseconds per recognizer on 100 KB of the dense text.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

from vallum.detectors.base import TextIndex
from vallum.detectors.pii import PiiDetector
from vallum.detectors.secrets import SecretDetector

TEMPLATE = (
    "Sure! I've updated the record for Dr {first} {last}. Their new billing address is "
    "{house} Calvin Cove Suite {suite}, Alishabury, VI {zip} and phone +44(0)117{phone}. "
    "The order shipped on Tuesday and the invoice was sent to the usual mailbox. "
)
FIRST = ("Jason", "Maria", "Anna", "Ken", "Sofie", "Idris", "Leigha", "Tomasz")
LAST = ("Russell", "Okafor", "Berg", "Fukuda", "Mackay", "Novak", "Hendrikse", "Silva")
BENIGN = Path(__file__).resolve().parents[2] / "shared/data/benign"


def reply(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(
            TEMPLATE.format(
                first=rng.choice(FIRST),
                last=rng.choice(LAST),
                house=f"{rng.randrange(10, 9999):04d}",
                suite=rng.randrange(100, 999),
                zip=rng.randrange(10000, 99999),
                phone=f"{rng.randrange(0, 10**7):07d}",
            )
        )
    return "".join(parts)[:size]


def prose(limit: int) -> str:
    texts: list[str] = []
    for path in sorted(BENIGN.glob("doc_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            texts.append(json.loads(line)["text"])
            if sum(map(len, texts)) >= limit:
                return "\n\n".join(texts)[:limit]
    return "\n\n".join(texts)[:limit]


def scan(pii: PiiDetector, secrets: SecretDetector, text: str) -> None:
    index = TextIndex(text)  # one pre-filter pass shared by both, as the output filter does
    pii.detect(text, index)
    secrets.detect(text, index)


def timed(pii: PiiDetector, secrets: SecretDetector, text: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    scan(pii, secrets, text)
    return time.process_time() - cpu, time.perf_counter() - wall


def throughput(pii: PiiDetector, secrets: SecretDetector, label: str, text: str) -> None:
    cpu, wall = min(timed(pii, secrets, text) for _ in range(3))
    print(
        f"{label} {len(text) / 1e6:.2f} MB: {len(text) / cpu / 1e6:.2f} MB/s CPU "
        f"({len(text) / wall / 1e6:.2f} MB/s wall)"
    )


def breakdown(pii: PiiDetector, secrets: SecretDetector, text: str) -> None:
    index = TextIndex(text)
    for name in ("numbers", "cap_runs", "long_tokens", "lower"):
        start = time.process_time()
        getattr(index, name)
        print(f"  index.{name:24s} {(time.process_time() - start) * 1e3:7.2f} ms")
    for recognizer in [*pii.recognizers, *secrets.recognizers]:
        start = time.process_time()
        list(recognizer.find(text, index))
        name = getattr(recognizer, "name", type(recognizer).__name__)
        print(f"  {name:30s} {(time.process_time() - start) * 1e3:7.2f} ms")


def main() -> None:
    pii, secrets = PiiDetector(), SecretDetector()
    rng = random.Random(20251125)
    replies = [reply(rng, 1024) for _ in range(2000)]
    for text in replies[:50]:  # warm-up
        scan(pii, secrets, text)
    cpu_times, wall_times = [], []
    for text in replies:
        cpu, wall = timed(pii, secrets, text)
        cpu_times.append(cpu)
        wall_times.append(wall)
    cpu_times.sort()
    print(
        f"1 KB reply: p50 {statistics.median(cpu_times) * 1e3:.3f} ms CPU "
        f"(wall {statistics.median(wall_times) * 1e3:.3f}), "
        f"p99 {cpu_times[int(len(cpu_times) * 0.99)] * 1e3:.3f} ms CPU"
    )
    throughput(pii, secrets, "long dense", reply(rng, 370_000))
    if BENIGN.is_dir():
        throughput(pii, secrets, "long prose", prose(370_000))
    if "--breakdown" in sys.argv:
        breakdown(pii, secrets, reply(rng, 100_000))


if __name__ == "__main__":
    main()
