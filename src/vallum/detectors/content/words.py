"""A linear model over word stems, stem pairs and the lexicon features (numpy-free scoring).

Sparse features are the distinct stems of a text and the pairs of consecutive content
stems (stop words dropped, so "make a bomb" gives ``make bomb``), each present once and
scaled by 1 / √(distinct stems + pairs, at least ``MIN_KEYS``); dense features are the
lexicon's.
Only keys with a weight are shipped: the vocabulary is the model.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from io import BytesIO
from itertools import compress, filterfalse, pairwise
from typing import BinaryIO

import numpy as np

from vallum.errors import ConfigError

__all__ = ["MIN_KEYS", "STOPWORDS", "WordModel", "content_stems", "key_count", "word_keys"]

MIN_KEYS = 8  # a text with fewer distinct keys is scaled as if it had this many

STOPWORDS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "from", "and", "or",
    "but", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these",
    "those", "i", "me", "my", "we", "our", "you", "your", "he", "she", "they", "them", "his",
    "their", "as", "so", "do", "does", "did", "can", "could", "would", "should", "will",
    "shall", "may", "might", "must", "into", "about", "than", "then", "there", "here", "what",
    "which", "who", "whom", "whose", "when", "where", "why", "how", "some", "any", "all",
    "very", "just", "also", "not", "no", "please"
})  # fmt: skip


def content_stems(stems: Sequence[str]) -> list[str]:
    """The stems that are not stop words, in order."""
    return list(filterfalse(STOPWORDS.__contains__, stems))


def key_count(stems: Sequence[str], content: Sequence[str]) -> int:
    """The number the sparse sum is scaled by: distinct stems plus consecutive pairs."""
    return max(MIN_KEYS, len(set(stems)) + max(0, len(content) - 1))


def word_keys(stems: Sequence[str]) -> set[str]:
    """Distinct stems and pairs of consecutive content stems of one text (training)."""
    content = content_stems(stems)
    keys = set(stems)
    keys.update(f"{a} {b}" for a, b in pairwise(content))
    return keys


@dataclass(frozen=True, slots=True)
class WordModel:
    """Weights by key, dense weights by feature name, bias and thresholds."""

    weights: Mapping[str, float]
    dense: Mapping[str, float]
    bias: float
    thresholds: Mapping[str, float]
    version: str
    # first stems of the shipped pairs: only pairs starting with one are built when scoring
    pair_starts: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        starts = frozenset(key.split(" ", 1)[0] for key in self.weights if " " in key)
        object.__setattr__(self, "pair_starts", starts)

    @classmethod
    def load(cls, package: str, name: str) -> WordModel:
        """Load ``name`` (an ``.npz``) shipped inside ``package``."""
        try:
            blob = resources.files(package).joinpath(name).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot load the model {package}/{name}") from exc
        return cls.from_bytes(blob, f"{package}/{name}")

    @classmethod
    def from_bytes(cls, blob: bytes, name: str = "model") -> WordModel:
        """A model from the bytes of its ``.npz``."""
        try:
            with np.load(BytesIO(blob), allow_pickle=False) as data:
                return cls(
                    weights=dict(zip(data["keys"].tolist(), data["values"].tolist(), strict=True)),
                    dense=dict(
                        zip(data["dense_keys"].tolist(), data["dense_values"].tolist(), strict=True)
                    ),
                    bias=float(data["bias"]),
                    thresholds=dict(
                        zip(
                            data["threshold_keys"].tolist(),
                            data["threshold_values"].tolist(),
                            strict=True,
                        )
                    ),
                    version=str(data["version"]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"cannot load the model {name}") from exc

    def save(self, handle: BinaryIO) -> None:
        """Write the model as a compressed ``.npz`` (training time), keys sorted and with a
        fixed timestamp: the same model always gives the same bytes."""
        weights = sorted(self.weights.items())
        arrays = {
            "keys": np.asarray([key for key, _ in weights], dtype=str),
            "values": np.asarray([value for _, value in weights], dtype=np.float16),
            "dense_keys": np.asarray(list(self.dense), dtype=str),
            "dense_values": np.asarray(list(self.dense.values()), dtype=np.float64),
            "bias": np.asarray(self.bias),
            "threshold_keys": np.asarray(list(self.thresholds), dtype=str),
            "threshold_values": np.asarray(list(self.thresholds.values()), dtype=np.float64),
            "version": np.asarray(self.version),
        }
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                buffer = BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                archive.writestr(info, buffer.getvalue())

    def logit(self, stems: Sequence[str], dense: Mapping[str, float]) -> float:
        weights = self.weights
        content = content_stems(stems)
        keys = set(stems)
        firsts = compress(range(len(content) - 1), map(self.pair_starts.__contains__, content))
        keys.update([f"{content[i]} {content[i + 1]}" for i in firsts])
        sparse = sum(filter(None, map(weights.get, keys)))  # unknown keys weigh nothing
        total = self.bias + sparse / math.sqrt(key_count(stems, content))
        return total + sum(self.dense.get(name, 0.0) * value for name, value in dense.items())

    def score(self, stems: Sequence[str], dense: Mapping[str, float]) -> float:
        logit = max(-60.0, min(60.0, self.logit(stems, dense)))
        return 1.0 / (1.0 + math.exp(-logit))
