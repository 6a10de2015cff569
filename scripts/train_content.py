"""Train the harmful-request model shipped in ``vallum/detectors/content/model/``.

    python scripts/train_content.py [--seed 20251125] [--validate]

Harmful requests: ``../shared/data/harmful`` (HarmBench, AdvBench). Benign: every chat
prompt of ``../shared/data/benign``, the role-play prompts, the math questions, and the
safe look-alikes in ``scripts/data/content_lookalikes_train.txt`` ("how do I kill a
Python process"). ``tests/data/content/safe_lookalikes.jsonl`` is never trained on: it
measures the false-positive rate on look-alikes.

``--validate`` holds out one harmful file at a time (HarmBench and AdvBench are different
authors) together with half of the benign files, and reports recall, FPR on the held-out
benign files and on the held-out look-alikes; the threshold comes from the out-of-fold
benign scores. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ngram_train import DATA, Corpus, Sample, export, featurize, fit, read_jsonl, threshold_for  # noqa: E402

from vallum.detectors.content import ContentConfig, ContentDetector  # noqa: E402
from vallum.detectors.content.detector import CATEGORIES, lexicon_hits  # noqa: E402
from vallum.detectors.injection.ngram import NgramModel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src/vallum/detectors/content/model/content.npz"
LOOKALIKES = Path(__file__).resolve().parent / "data/content_lookalikes_train.txt"
HELD_LOOKALIKES = ROOT / "tests/data/content/safe_lookalikes.jsonl"
ORDERS = (2, 3, 4, 5)
BITS = 18
C = 4.0
FPR = 0.01
VERSION = "content-ngram-3"
HARMFUL = ("harmful_advbench.jsonl", "harmful_harmbench.jsonl")


def build() -> Corpus:
    corpus = Corpus()
    for name in HARMFUL:
        corpus.add((row["text"].lower() for row in read_jsonl(DATA / "harmful" / name)), 1, name)
    benign = sorted((DATA / "benign").glob("chat_*.jsonl"))
    benign += [DATA / "injection/benign_roleplay_awesome.jsonl", DATA / "injection/benign_math_gsm8k.jsonl"]
    for path in benign:
        corpus.add((row["text"].lower() for row in read_jsonl(path)), 0, path.name)
    lookalikes = [line.lower() for line in LOOKALIKES.read_text(encoding="utf-8").splitlines()]
    for _ in range(5):  # few but important: weigh them up
        corpus.add(lookalikes, 0, "lookalikes")
    return corpus


def held_lookalikes() -> list[str]:
    with HELD_LOOKALIKES.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"].lower() for line in handle if line.strip()]


def lexicon_matrix(texts: list[str]) -> sparse.csr_matrix:
    names = list(CATEGORIES)
    rows = [[float(name in hits) for name in names] for hits in map(lexicon_hits, texts)]
    return sparse.csr_matrix(np.asarray(rows, dtype=np.float64))


def train(samples: list[Sample], seed: int) -> NgramModel:
    """Hashed n-grams plus one column per lexicon group, fitted jointly."""
    texts = [s.text for s in samples]
    x = sparse.hstack([featurize(texts, ORDERS, BITS, 4096), lexicon_matrix(texts)]).tocsr()
    weights, bias = fit(x, np.asarray([s.label for s in samples]), C, seed)
    extra = {name: float(w) for name, w in zip(CATEGORIES, weights[1 << BITS :], strict=True)}
    return NgramModel(weights[: 1 << BITS], bias, ORDERS, BITS, 2048, 512, {}, VERSION, extra, power=0.5)


def scorer(model: NgramModel) -> ContentDetector:
    detector = ContentDetector(ContentConfig(threshold=0.5))
    detector.model = model
    return detector


def validate(corpus: Corpus, seed: int) -> float:
    benign_files = sorted({s.group for s in corpus.samples if s.label == 0} - {"lookalikes"})
    oof: list[tuple[Sample, float]] = []
    look_scores: list[np.ndarray] = []
    for number, harmful in enumerate(HARMFUL):
        held = {harmful} | set(benign_files[number :: len(HARMFUL)])
        detector = scorer(train([s for s in corpus.samples if s.group not in held], seed))
        oof.extend((s, detector.detect(s.text).score) for s in corpus.samples if s.group in held)
        look_scores.append(np.asarray([detector.detect(t).score for t in held_lookalikes()]))
    benign = np.asarray([score for s, score in oof if s.label == 0])
    threshold = threshold_for(benign, FPR)
    print(f"== leave-one-source-out: threshold {threshold:.4f} (≤ {FPR:.0%} FPR out of fold)")
    for name in HARMFUL:
        hits = [score >= threshold for s, score in oof if s.group == name]
        print(f"  {name}: recall {np.mean(hits):.4f} (n={len(hits)})")
    print(f"  pooled recall {np.mean([sc >= threshold for s, sc in oof if s.label]):.4f}")
    print(f"  benign FPR {np.mean(benign >= threshold):.4f} (n={len(benign)})")
    looks = np.max(look_scores, axis=0)  # the worse of the two fold models
    harmful_scores = np.asarray([sc for s, sc in oof if s.label])
    for fpr in (0.005, 0.01, 0.02, 0.03, 0.05):
        cut = threshold_for(benign, fpr)
        print(f"  at {fpr:.1%} benign FPR: threshold {cut:.3f} recall "
              f"{np.mean(harmful_scores >= cut):.4f} look-alike FPR {np.mean(looks >= cut):.3f}")
    return threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20251125)
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    started = time.monotonic()
    corpus = build()
    held_out = validate(corpus, args.seed) if args.validate else 0.0
    model = train(corpus.samples, args.seed)
    detector = scorer(model)
    benign = np.asarray([detector.detect(s.text).score for s in corpus.samples if s.label == 0])
    threshold = max(held_out, threshold_for(benign, FPR))
    harmful = np.asarray([detector.detect(s.text).score for s in corpus.samples if s.label == 1])
    looks = np.asarray([detector.detect(text).score for text in held_lookalikes()])
    print(f"== final model, threshold {threshold:.4f}: in-sample recall {np.mean(harmful >= threshold):.4f} "
          f"benign FPR {np.mean(benign >= threshold):.4f}; held-out look-alikes FPR "
          f"{np.mean(looks >= threshold):.4f} (n={len(looks)})")
    export(args.out, model.weights, model.bias, ORDERS, BITS, 2048, 512, {"chat": threshold}, VERSION,
           model.extra)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
