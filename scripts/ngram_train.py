"""Shared training helpers for the hashed byte n-gram models (training time only).

Needs the ``train`` extra (numpy, scikit-learn). The runtime reads the exported ``.npz``
with numpy alone (``vallum.detectors.injection.ngram``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vallum.detectors.injection.ngram import hash_orders, prepare
from vallum.detectors.injection.words import hash_words

if TYPE_CHECKING:
    from scipy import sparse

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class Sample:
    text: str
    label: int
    group: str  # upstream source file: validation holds out whole groups
    kind: str = "chat"  # chat | doc: which threshold governs it
    key: str = ""  # k-fold grouping: samples sharing a key (same payload) share a fold


@dataclass
class Corpus:
    samples: list[Sample] = field(default_factory=list)

    def add(self, texts: Iterable[str], label: int, group: str, kind: str = "chat") -> None:
        self.samples.extend(Sample(t, label, group, kind) for t in texts if t.strip())


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def featurize(
    texts: Sequence[str], orders: Sequence[int], bits: int, cap: int, power: float = 0.5
) -> sparse.csr_matrix:
    """Rows of hashed n-gram counts / n ** power per order: what ``NgramModel.logit`` sums."""
    from scipy import sparse  # the train extra: imported only where a matrix is built

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for number, text in enumerate(texts):
        data = prepare(text)[:cap]
        for grams in hash_orders(data, tuple(orders), bits):
            if len(grams):
                cols.append(grams)
                rows.append(np.full(len(grams), number, dtype=np.int64))
                vals.append(np.full(len(grams), 1.0 / len(grams) ** power))
    matrix = sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(texts), 1 << bits),
    )
    return matrix.tocsr()  # duplicates are summed: counts / n-grams of that order


def featurize_words(
    texts: Sequence[str], bits: int, cap: int, power: float = 0.5
) -> sparse.csr_matrix:
    """Rows of hashed word unigram and bigram counts / n ** power: what ``NgramModel`` adds."""
    from scipy import sparse

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for number, text in enumerate(texts):
        grams = hash_words(prepare(text)[:cap], bits)
        for index in (grams.unigrams, grams.bigrams):
            if len(index):
                cols.append(index)
                rows.append(np.full(len(index), number, dtype=np.int64))
                vals.append(np.full(len(index), 1.0 / len(index) ** power))
    if not cols:
        return sparse.csr_matrix((len(texts), 1 << bits))
    matrix = sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(texts), 1 << bits),
    )
    return matrix.tocsr()


def fit(x: sparse.csr_matrix, y: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=c, class_weight="balanced", max_iter=2000, random_state=seed, solver="liblinear"
    )
    model.fit(x, y)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def export(
    path: Path,
    weights: np.ndarray,
    bias: float,
    orders: Sequence[int],
    bits: int,
    window: int,
    stride: int,
    thresholds: dict[str, float],
    version: str,
    extra: dict[str, float] | None = None,
    power: float = 0.5,
    word_weights: np.ndarray | None = None,
    word_bits: int = 0,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    words = (
        {}
        if word_weights is None
        else {"word_weights": word_weights.astype(np.float16), "word_bits": np.asarray(word_bits)}
    )
    with path.open("wb") as handle:
        np.savez_compressed(
            handle,
            **words,
            weights=weights.astype(np.float16),
            meta=np.asarray([bias, bits, window, stride, power], dtype=np.float64),
            orders=np.asarray(orders, dtype=np.int64),
            threshold_keys=np.asarray(list(thresholds), dtype=str),
            threshold_values=np.asarray(list(thresholds.values()), dtype=np.float64),
            version=np.asarray(version),
            extra_keys=np.asarray(list(extra or {}), dtype=str),
            extra_values=np.asarray(list((extra or {}).values()), dtype=np.float64),
        )


def chunks(text: str, size: int, rng: random.Random) -> list[str]:
    """Split a long text into pieces of about ``size`` characters at spaces."""
    if len(text) <= size:
        return [text]
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size + rng.randint(-size // 4, size // 4))
        out.append(text[start:end])
        start = end
    return out


def threshold_for(scores: np.ndarray, fpr: float) -> float:
    """Smallest threshold whose false-positive rate on ``scores`` (benign) is ≤ ``fpr``."""
    if len(scores) == 0:
        return 0.5
    return float(np.quantile(scores, 1.0 - fpr, method="higher")) + 1e-6
