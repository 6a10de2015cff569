"""Train the harmful-request model shipped in ``vallum/detectors/content/model/``.

    python scripts/train_content.py [--seed 20251125] [--validate]

Harmful requests: ``../shared/data/harmful`` (HarmBench, AdvBench) plus synthetic
paraphrases (framings x intent verbs x objects of every category, drawn with the seed).
Benign: every chat prompt of ``../shared/data/benign``, the role-play prompts, the math
questions, the safe look-alikes in ``scripts/data/content_lookalikes_train.txt`` ("how do I
kill a Python process") and synthetic look-alikes built from the same framings.
``tests/data/content/safe_lookalikes.jsonl`` is never trained on: it measures the
false-positive rate on look-alikes. The objectives of ``responses_graded_pyrit.jsonl``
(a third author's harmful requests, noisily labelled) are never trained on either: they
measure recall on requests no training source wrote.

``--validate`` holds out one harmful file at a time together with half of the benign
files, and reports recall on it, on the PyRIT objectives, the FPR on the held-out benign
files and on the held-out look-alikes; the thresholds come from the out-of-fold benign
scores: ``bare`` for texts with no harm evidence (no harm-category word, no harm verb on a
person or oneself, no evasion) at ``BARE_FPR`` of all benign texts, ``chat`` for the others
so that both together stay within ``FPR``. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from content_synth import synthetic_benign, synthetic_harmful
from ngram_train import DATA, Corpus, Sample, read_jsonl, threshold_for

from vallum.detectors.content import ContentConfig, ContentDetector
from vallum.detectors.content.lexicon import DENSE_FEATURES, Lexicon, tokens
from vallum.detectors.content.words import WordModel, content_stems, key_count, word_keys

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src/vallum/detectors/content/model/content.npz"
LOOKALIKES = Path(__file__).resolve().parent / "data/content_lookalikes_train.txt"
HELD_LOOKALIKES = ROOT / "tests/data/content/safe_lookalikes.jsonl"
C = 2.0
FPR = 0.0035  # out-of-fold benign chat, both gates together; look-alikes are measured apart
BARE_FPR = 0.0002  # of all benign texts, spent on texts with no harm evidence
BARE_MIN = 0.8  # ... and never below this: "how to lose weight?" is no harm evidence
MIN_COUNT = 2  # keys seen in fewer training texts are not features
MIN_WEIGHT = 0.02  # smaller weights are not shipped
VERSION = "content-words-5"
HARMFUL = ("harmful_advbench.jsonl", "harmful_harmbench.jsonl")
PYRIT_HARMFUL = ("harm:", "objective:")  # categories whose objectives are harmful requests
WEIGHTS = {"lookalikes": 5.0, "synthetic_harmful": 0.5, "synthetic_benign": 1.0}


def build(seed: int) -> Corpus:
    corpus = Corpus()
    for name in HARMFUL:
        corpus.add((row["text"].lower() for row in read_jsonl(DATA / "harmful" / name)), 1, name)
    benign = sorted((DATA / "benign").glob("chat_*.jsonl"))
    benign += [
        DATA / "injection/benign_roleplay_awesome.jsonl",
        DATA / "injection/benign_math_gsm8k.jsonl",
    ]
    for path in benign:
        corpus.add((row["text"].lower() for row in read_jsonl(path)), 0, path.name)
    lines = LOOKALIKES.read_text(encoding="utf-8").splitlines()
    corpus.add((line.lower() for line in lines if not line.startswith("#")), 0, "lookalikes")
    rng = random.Random(seed)  # noqa: S311  # seeded training data, not cryptography
    corpus.add(synthetic_harmful(rng), 1, "synthetic_harmful")
    corpus.add(synthetic_benign(rng), 0, "synthetic_benign")
    return corpus


def held_lookalikes() -> list[str]:
    with HELD_LOOKALIKES.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"].lower() for line in handle if line.strip()]


def pyrit_objectives() -> list[str]:
    rows = read_jsonl(DATA / "harmful/responses_graded_pyrit.jsonl")
    chosen = {row["objective"] for row in rows if row["category"].startswith(PYRIT_HARMFUL)}
    return sorted(text.lower() for text in chosen if len(text) < 2000)


class Featurizer:
    """Text → (distinct keys, dense lexicon features), exactly what the detector computes."""

    def __init__(self) -> None:
        self.lexicon = Lexicon()

    def __call__(self, text: str) -> tuple[set[str], int, dict[str, float]]:
        stems = self.lexicon.stems(tokens(text[:20000].lower()))
        dense = self.lexicon.features(self.lexicon.positions(stems), len(stems))
        return word_keys(stems), key_count(stems, content_stems(stems)), dense


def matrix(
    rows: list[tuple[set[str], int, dict[str, float]]], vocab: dict[str, int]
) -> sparse.csr_matrix:
    indptr, indices, values = [0], [], []
    dense_at = {name: len(vocab) + number for number, name in enumerate(DENSE_FEATURES)}
    for keys, count, dense in rows:
        known = sorted(vocab[key] for key in keys if key in vocab)
        scale = 1.0 / np.sqrt(count)
        indices.extend(known)
        values.extend([scale] * len(known))
        for name, value in dense.items():
            indices.append(dense_at[name])
            values.append(value)
        indptr.append(len(indices))
    shape = (len(rows), len(vocab) + len(DENSE_FEATURES))
    return sparse.csr_matrix((values, indices, indptr), shape=shape)


def train(samples: list[Sample], featurize: Featurizer, seed: int) -> WordModel:
    rows = [featurize(s.text) for s in samples]
    counts: dict[str, int] = {}
    for keys, _, _ in rows:
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
    vocab = {key: n for n, key in enumerate(sorted(k for k, c in counts.items() if c >= MIN_COUNT))}
    x = matrix(rows, vocab)
    y = np.asarray([s.label for s in samples])
    weight = np.asarray([WEIGHTS.get(s.group, 1.0) for s in samples])
    # balance the classes by total weight, as class_weight="balanced" does by count
    for label in (0, 1):
        weight[y == label] *= len(y) / (2 * weight[y == label].sum())
    model = LogisticRegression(C=C, max_iter=3000, random_state=seed, solver="liblinear")
    model.fit(x, y, sample_weight=weight)
    coef = model.coef_[0]
    keys = sorted(vocab, key=vocab.__getitem__)
    weights = {
        k: round(float(w), 4)
        for k, w in zip(keys, coef[: len(vocab)], strict=True)
        if abs(w) >= MIN_WEIGHT
    }
    dense = {name: float(w) for name, w in zip(DENSE_FEATURES, coef[len(vocab) :], strict=True)}
    return WordModel(weights, dense, float(model.intercept_[0]), {"chat": 0.5}, VERSION)


def scorer(model: WordModel) -> ContentDetector:
    return ContentDetector(ContentConfig(threshold=0.5), model)


class Scores:
    """Scores and harm-evidence flags of texts under one model."""

    def __init__(self, score: np.ndarray, evidence: np.ndarray) -> None:
        self.score, self.evidence = score, evidence

    @classmethod
    def of(cls, detector: ContentDetector, texts: list[str]) -> Scores:
        results = [detector.detect(text) for text in texts]
        return cls(
            np.asarray([r.score for r in results]),
            np.asarray([r.evidence for r in results], dtype=bool),
        )

    def __getitem__(self, mask: np.ndarray) -> Scores:
        return Scores(self.score[mask], self.evidence[mask])

    def flags(self, cuts: tuple[float, float]) -> np.ndarray:
        return self.score >= np.where(self.evidence, cuts[0], cuts[1])


def gate_thresholds(benign: Scores, fpr: float, bare_fpr: float) -> tuple[float, float]:
    """(chat, bare): ``bare`` spends ``bare_fpr`` of all benign texts on those without
    evidence, ``chat`` the rest of the ``fpr`` budget on those with evidence."""
    size = len(benign.score)
    bare = benign.score[~benign.evidence]
    bare_cut = threshold_for(bare, bare_fpr * size / max(1, len(bare)))
    left = max(0.0, fpr * size - float(np.sum(bare >= bare_cut)))
    cut = threshold_for(benign.score[benign.evidence], left / max(1, int(benign.evidence.sum())))
    return cut, max(cut, bare_cut, BARE_MIN)


def validate(corpus: Corpus, featurize: Featurizer, seed: int) -> tuple[float, float]:
    fixed = {"lookalikes", "synthetic_harmful", "synthetic_benign"}
    benign_files = sorted({s.group for s in corpus.samples if s.label == 0} - fixed)
    held_out: list[Sample] = []
    parts, looks, pyrit = [], [], []
    for number, harmful in enumerate(HARMFUL):
        held = {harmful} | set(benign_files[number :: len(HARMFUL)])
        detector = scorer(
            train([s for s in corpus.samples if s.group not in held], featurize, seed)
        )
        held_out.extend(s for s in corpus.samples if s.group in held)
        parts.append(Scores.of(detector, [s.text for s in corpus.samples if s.group in held]))
        looks.append(Scores.of(detector, held_lookalikes()))
        pyrit.append(Scores.of(detector, pyrit_objectives()))
    oof = Scores(
        np.concatenate([part.score for part in parts]),
        np.concatenate([part.evidence for part in parts]),
    )
    labels = np.asarray([s.label for s in held_out])
    groups = np.asarray([s.group for s in held_out])
    benign, harmful = oof[labels == 0], oof[labels == 1]
    cuts = gate_thresholds(benign, FPR, BARE_FPR)
    print(
        f"== leave-one-source-out: thresholds chat {cuts[0]:.4f}, bare {cuts[1]:.4f} "
        f"(≤ {FPR:.2%} FPR out of fold, {BARE_FPR:.2%} of it without harm evidence)"
    )
    for name in HARMFUL:
        hits = oof[groups == name].flags(cuts)
        print(f"  {name}: recall {np.mean(hits):.4f} (n={len(hits)})")
    print(f"  pooled recall {np.mean(harmful.flags(cuts)):.4f}")
    print(f"  benign FPR {np.mean(benign.flags(cuts)):.4f} (n={len(benign.score)})")
    for point_fpr in ((0.0025, 0.0002), (0.0035, 0.0002), (0.005, 0.0005), (0.01, 0.001)):
        point = gate_thresholds(benign, *point_fpr)
        # look-alikes: the worse of the two fold models; PyRIT recall: the weaker one
        look_fpr = np.mean(np.any([part.flags(point) for part in looks], axis=0))
        pyrit_recall = np.mean(np.all([part.flags(point) for part in pyrit], axis=0))
        print(
            f"  at {point_fpr[0]:.1%} benign FPR ({point_fpr[1]:.2%} bare): thresholds "
            f"{point[0]:.3f} / {point[1]:.3f} recall {np.mean(harmful.flags(point)):.4f} "
            f"look-alike FPR {look_fpr:.3f} pyrit-objective recall {pyrit_recall:.3f} "
            f"(n={len(pyrit[0].score)})"
        )
    return cuts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20251125)
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    started = time.monotonic()
    corpus = build(args.seed)
    featurize = Featurizer()
    held_out = validate(corpus, featurize, args.seed) if args.validate else (0.0, 0.0)
    model = train(corpus.samples, featurize, args.seed)
    detector = scorer(model)
    real = [s for s in corpus.samples if not s.group.startswith("synthetic")]
    benign = Scores.of(detector, [s.text for s in real if s.label == 0])
    in_sample = gate_thresholds(benign, FPR, BARE_FPR)
    cuts = (max(held_out[0], in_sample[0]), max(held_out[1], in_sample[1]))
    harmful = Scores.of(detector, [s.text for s in real if s.label == 1])
    looks = Scores.of(detector, held_lookalikes())
    print(
        f"== final model, thresholds chat {cuts[0]:.4f} bare {cuts[1]:.4f}: "
        f"in-sample recall {np.mean(harmful.flags(cuts)):.4f} "
        f"benign FPR {np.mean(benign.flags(cuts)):.4f}; held-out look-alikes FPR "
        f"{np.mean(looks.flags(cuts)):.4f} (n={len(looks.score)}); {len(model.weights)} keys"
    )
    thresholds = {"chat": cuts[0], "bare": cuts[1]}
    final = WordModel(model.weights, model.dense, model.bias, thresholds, VERSION)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as handle:
        final.save(handle)
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.monotonic() - started:.0f}s"
    )


if __name__ == "__main__":
    main()
