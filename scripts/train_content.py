"""Train the harmful-request model shipped in ``vallum/detectors/content/model/``.

    python scripts/train_content.py [--seed 20251125] [--validate]

The samples are the content task of ``vallum eval --detector content --loso``
(``vallum.eval.content_loso``): the harmful-request files of ``../shared/data/harmful``, the
PyRIT objectives, the benign chat files (safe look-alikes and ordinary chat), and
training-only rows (synthetic requests and questions, packaged look-alikes, hh-rlhf
red-team openings with harm evidence). The threshold comes from out-of-fold scores of
three inner folds split by source, so that the worst benign source stays within its
budget (3 % look-alikes, 1 % ordinary chat); the model is then fitted on everything.

``--validate`` first prints the leave-one-source-out tables (the same as ``vallum eval
--detector content --loso``). ``tests/data/content/safe_lookalikes.jsonl`` is never
trained on: its false-positive rate is printed last. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from vallum.detectors.content import ContentConfig, ContentDetector
from vallum.eval.content_loso import BARE_OFFSET, VERSION, ContentLoso
from vallum.eval.loso import format_report, inner_threshold, run_loso

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "src/vallum/detectors/content/model/content.npz"
HELD_LOOKALIKES = ROOT / "tests/data/content/safe_lookalikes.jsonl"


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def held_lookalikes() -> list[str]:
    with HELD_LOOKALIKES.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20251125)
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    started = time.monotonic()
    task = ContentLoso(args.data, args.seed)
    samples = task.samples()
    if args.validate:
        report = run_loso(task, progress=lambda fold: print(f"fold {fold}", file=sys.stderr))
        print(format_report(report))
    everything = np.arange(len(samples))
    cut = inner_threshold(task, samples, everything, 3)
    model = task.train(everything)
    thresholds = {"chat": _sigmoid(cut), "bare": _sigmoid(cut + BARE_OFFSET)}
    final = type(model)(model.weights, model.dense, model.bias, thresholds, VERSION)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as handle:
        final.save(handle)
    detector = ContentDetector(ContentConfig(), type(final).from_bytes(args.out.read_bytes()))
    looks = held_lookalikes()
    flagged = sum(detector.detect(text).flagged for text in looks)
    print(
        f"== final model: thresholds chat {thresholds['chat']:.4f} bare {thresholds['bare']:.4f}"
        f" (log-odds {cut:.3f}); {len(final.weights)} keys; held-out look-alikes flagged "
        f"{flagged}/{len(looks)}"
    )
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.monotonic() - started:.0f}s"
    )


if __name__ == "__main__":
    main()
