"""Training the content word model: features as the detector computes them, a logistic fit.

Needs the ``train`` extra (scipy, scikit-learn), imported only when a model is fitted. Texts
are featurized once (``FeatureTable``); a fit on any subset of rows drops the keys seen in
fewer than ``MIN_COUNT`` of its training texts, so a held-out source adds no vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vallum.detectors.content.detector import gate_of
from vallum.detectors.content.lexicon import DENSE_FEATURES, Lexicon
from vallum.detectors.content.words import WordModel, content_stems, key_count, word_keys
from vallum.errors import ConfigError

__all__ = ["MIN_COUNT", "MIN_SOURCES", "MIN_WEIGHT", "C", "FeatureTable", "fit_model"]

C = 2.0  # inverse L2 strength of the logistic regression
MIN_COUNT = 2  # keys seen in fewer training texts are not features
MIN_SOURCES = 2  # ... or used by fewer training sources
MIN_WEIGHT = 0.1  # smaller weights are not shipped (and not used when scoring a fold)
_MAX_CHARS = 20000  # what the detector reads by default


def _sparse() -> Any:
    try:
        from scipy import sparse
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError("training needs the train extra: pip install 'vallum[train]'") from exc
    return sparse


@dataclass(slots=True)
class FeatureTable:
    """Every text's keys (as column numbers), key count and dense features, computed once."""

    vocab: list[str]
    matrix: Any  # scipy CSR: scaled key indicators, then the dense features
    bare: np.ndarray  # bool: no harm evidence (the bare threshold governs)
    minor: np.ndarray  # bool: a minor near a sexual word (the stricter rule governs)
    columns: dict[str, int]  # key -> column

    @classmethod
    def build(cls, texts: Sequence[str]) -> FeatureTable:
        sparse = _sparse()
        lexicon = Lexicon()
        index: dict[str, int] = {}
        indptr, columns, values = [0], [], []
        dense_rows: list[dict[str, float]] = []
        for text in texts:
            stems, features = lexicon.analyse(text[:_MAX_CHARS].lower())
            dense_rows.append(features)
            keys = sorted({index.setdefault(key, len(index)) for key in sorted(word_keys(stems))})
            scale = 1.0 / math.sqrt(key_count(stems, content_stems(stems)))
            columns.extend(keys)
            values.extend([scale] * len(keys))
            indptr.append(len(columns))
        vocab = sorted(index, key=index.__getitem__)
        words = sparse.csr_matrix((values, columns, indptr), shape=(len(texts), len(vocab)))
        dense = np.asarray([[row.get(name, 0.0) for name in DENSE_FEATURES] for row in dense_rows])
        matrix = sparse.hstack([words, sparse.csr_matrix(dense)], format="csr")
        bare = np.asarray([gate_of(row) == "bare" for row in dense_rows], dtype=bool)
        minor = np.asarray([gate_of(row) == "minor" for row in dense_rows], dtype=bool)
        return cls(vocab, matrix, bare, minor, index)

    def decisions(
        self, model: WordModel, rows: np.ndarray, bare_offset: float, minor_bonus: float
    ) -> np.ndarray:
        """Decision log-odds of ``rows`` under ``model``, as ``ContentDetector`` computes them."""
        weights = np.zeros(self.matrix.shape[1])
        for key, value in model.weights.items():
            column = self.columns.get(key)
            if column is not None:
                weights[column] = value
        for number, name in enumerate(DENSE_FEATURES):
            weights[len(self.vocab) + number] = model.dense.get(name, 0.0)
        out = self.matrix[rows] @ weights + model.bias
        return np.asarray(out - bare_offset * self.bare[rows] + minor_bonus * self.minor[rows])


def _kept_columns(x: Any, sources: np.ndarray, size: int, min_sources: int) -> np.ndarray:
    """Key columns seen in ``MIN_COUNT`` texts of at least ``min_sources`` sources."""
    words = x[:, :size]
    seen = np.asarray((words != 0).sum(axis=0)).ravel() >= MIN_COUNT
    spread = np.zeros(size, dtype=np.int64)
    for source in np.unique(sources):
        spread += np.asarray((words[sources == source] != 0).sum(axis=0)).ravel() > 0
    return np.flatnonzero(seen & (spread >= min_sources))


def fit_model(
    table: FeatureTable,
    rows: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    sources: np.ndarray,
    seed: int,
    version: str,
) -> WordModel:
    """A logistic regression on ``rows`` (classes balanced by total weight), as shipped.

    A key becomes a feature only when ``MIN_SOURCES`` training sources use it: a phrase one
    author favours says nothing about requests other authors write.
    """
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError("training needs the train extra: pip install 'vallum[train]'") from exc
    x = table.matrix[rows]
    size = len(table.vocab)
    kept = _kept_columns(x, sources[rows], size, MIN_SOURCES)
    columns = np.concatenate([kept, size + np.arange(len(DENSE_FEATURES))])
    x = x[:, columns]
    y = labels[rows]
    weight = weights[rows].astype(float)
    for label in (0, 1):
        weight[y == label] *= len(y) / (2 * weight[y == label].sum())
    model = LogisticRegression(C=C, dual=True, max_iter=5000, random_state=seed, solver="liblinear")
    model.fit(x, y, sample_weight=weight)
    coef = model.coef_[0]
    shipped = {
        table.vocab[column]: float(np.float16(round(float(w), 4)))
        for column, w in zip(kept.tolist(), coef[: len(kept)], strict=True)
        if abs(w) >= MIN_WEIGHT
    }
    dense = {name: float(w) for name, w in zip(DENSE_FEATURES, coef[len(kept) :], strict=True)}
    return WordModel(shipped, dense, float(model.intercept_[0]), {"chat": 0.5}, version)
