"""A hashed byte n-gram linear model: numpy-only scoring, whole text or sliding windows.

Features are the hashed byte n-grams of the lower-cased text (digits folded to ``0``) and,
when the model has word weights, its hashed word unigrams and bigrams (``words.py``);
each order's counts are divided by ``n ** power`` (``n`` its number of n-grams), so a
text's logit is ``bias + Σ_order sum(w[grams]) / n ** power``.
That sum is additive over positions: window scores come from one cumulative sum, so
overlapping windows cost no more than one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from io import BytesIO

import numpy as np
import numpy.typing as npt

from vallum.detectors.injection.words import WordGrams, hash_words
from vallum.errors import ConfigError

__all__ = ["WHOLE_WINDOWS", "NgramModel", "hash_grams", "hash_orders", "prepare"]

_DIGITS = re.compile(r"\d")
_SPACES = re.compile(r"\s+")
WHOLE_WINDOWS = 4  # texts up to this many windows long are also scored whole
_ASCII_DIGITS = str.maketrans("123456789", "000000000")
_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_SEED = np.uint64(0xCBF29CE484222325)

FloatArray = npt.NDArray[np.float32]


def prepare(text: str) -> npt.NDArray[np.uint8]:
    """The byte sequence the model reads: lower-case, digits as 0, whitespace collapsed."""
    text = text.lower()
    if text.isascii():  # fast path, same result: translate + split are single C passes
        text = text.translate(_ASCII_DIGITS)
        if text:
            joined = " ".join(text.split())
            head = " " if text[0].isspace() else ""
            tail = " " if text[-1].isspace() and joined else ""
            text = head + joined + tail
    else:
        text = _SPACES.sub(" ", _DIGITS.sub("0", text))
    return np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)


def hash_grams(data: npt.NDArray[np.uint8], order: int, bits: int) -> npt.NDArray[np.int64]:
    """Bucket index of every byte n-gram of ``order`` (empty if the text is shorter)."""
    return hash_orders(data, (order,), bits)[0]


def hash_orders(
    data: npt.NDArray[np.uint8], orders: tuple[int, ...], bits: int
) -> list[npt.NDArray[np.int64]]:
    """Bucket indexes of the n-grams of every order, one rolling pass for all orders.

    The hash of an n-gram extends the hash of its (n-1)-gram prefix by one byte, so
    the orders 1..5 cost five multiply-adds per byte, not fifteen.
    """
    top = max(orders)
    wide = data.astype(np.uint64)
    value = np.full(len(data), _SEED, dtype=np.uint64)
    out: dict[int, npt.NDArray[np.int64]] = {}
    for order in range(1, top + 1):
        count = len(data) - order + 1
        if count <= 0:
            break
        value = value[:count] * _PRIME + wide[order - 1 : order - 1 + count]
        if order in orders:
            mixed = ((value + np.uint64(order)) * _MIX) >> np.uint64(64 - bits)
            out[order] = mixed.astype(np.int64)
    empty = np.zeros(0, dtype=np.int64)
    return [out.get(order, empty) for order in orders]


@dataclass(frozen=True, slots=True)
class NgramModel:
    """Weights, bias and the decision threshold(s) of one trained model."""

    weights: FloatArray
    bias: float
    orders: tuple[int, ...]
    bits: int
    window: int
    stride: int
    thresholds: dict[str, float]
    version: str
    # weights of dense features computed outside the model (e.g. lexicon hits), by name
    extra: dict[str, float] = field(default_factory=dict)
    # each order's sum of weights is divided by (number of its n-grams) ** power:
    # 1.0 is a mean (long texts are diluted), 0.5 keeps the L2 norm of the counts ~ 1
    power: float = 1.0
    # weights of hashed word unigrams + bigrams (one table of 2**word_bits), if any
    word_weights: FloatArray | None = None
    word_bits: int = 0

    @classmethod
    def load(cls, package: str, name: str) -> NgramModel:
        """Load ``name`` (an ``.npz``) shipped inside ``package``."""
        try:
            blob = resources.files(package).joinpath(name).read_bytes()
            with np.load(BytesIO(blob), allow_pickle=False) as data:
                meta = data["meta"]
                thresholds = {
                    str(key): float(value)
                    for key, value in zip(
                        data["threshold_keys"], data["threshold_values"], strict=True
                    )
                }
                extra: dict[str, float] = {}
                if "extra_keys" in data:
                    extra = {
                        str(key): float(value)
                        for key, value in zip(data["extra_keys"], data["extra_values"], strict=True)
                    }
                words = data["word_weights"].astype(np.float32) if "word_weights" in data else None
                return cls(
                    word_weights=words,
                    word_bits=int(data["word_bits"]) if "word_bits" in data else 0,
                    weights=data["weights"].astype(np.float32),
                    bias=float(meta[0]),
                    orders=tuple(int(order) for order in data["orders"]),
                    bits=int(meta[1]),
                    window=int(meta[2]),
                    stride=int(meta[3]),
                    thresholds=thresholds,
                    version=str(data["version"]),
                    extra=extra,
                    power=float(meta[4]) if len(meta) > 4 else 1.0,
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"cannot load the model {package}/{name}") from exc

    def logit(self, text: str) -> float:
        """Logit of the whole text."""
        data = prepare(text)
        total = self.bias
        for index in hash_orders(data, self.orders, self.bits):
            if len(index):
                total += float(self.weights[index].sum(dtype=np.float64)) / len(index) ** self.power
        if self.word_weights is not None:
            grams = hash_words(data, self.word_bits)
            total += _word_logit(self.word_weights, grams, self.power)
        return total

    def score(self, text: str) -> float:
        """Probability-like score of the whole text."""
        return _sigmoid(self.logit(text))

    def window_scores(self, text: str) -> FloatArray:
        """Scores of overlapping windows (``window`` bytes, every ``stride``) of a long text."""
        return self._scores(prepare(text))[1]

    def max_score(self, text: str) -> float:
        """The highest of the window scores and, for texts the training saw whole, the
        whole-text score.

        Beyond ``WHOLE_WINDOWS`` windows the whole-text score is not used: with counts
        divided by √n, repeating a text raises its whole-text score (√repeats), and the
        model was trained on texts of at most that length.
        """
        data = prepare(text)
        whole, windows = self._scores(data)
        best = float(windows.max())
        return max(whole, best) if len(data) <= WHOLE_WINDOWS * self.window else best

    def _scores(self, data: npt.NDArray[np.uint8]) -> tuple[float, FloatArray]:
        """Whole-text score and window scores from one hashing pass."""
        size = len(data)
        hashed = hash_orders(data, self.orders, self.bits)
        whole = self.bias
        for index in hashed:
            if len(index):
                whole += float(self.weights[index].sum(dtype=np.float64)) / len(index) ** self.power
        words = self.word_weights
        grams = hash_words(data, self.word_bits) if words is not None else None
        if words is not None and grams is not None:
            whole += _word_logit(words, grams, self.power)
        if size <= self.window:
            return _sigmoid(whole), np.asarray([_sigmoid(whole)], dtype=np.float32)
        starts = np.arange(0, size - self.window + self.stride, self.stride)
        starts = np.minimum(starts, size - self.window)
        logits = np.full(len(starts), self.bias, dtype=np.float64)
        for order, index in zip(self.orders, hashed, strict=True):
            sums = np.concatenate(([0.0], np.cumsum(self.weights[index], dtype=np.float64)))
            span = self.window - order + 1
            logits += (sums[starts + span] - sums[starts]) / span**self.power
        if words is not None and grams is not None:
            logits += _word_windows(words, grams, starts, self.window, self.power)
        return _sigmoid(whole), (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def _word_logit(weights: FloatArray, grams: WordGrams, power: float) -> float:
    """Word part of a whole text's logit."""
    total = 0.0
    for index in (grams.unigrams, grams.bigrams):
        if len(index):
            total += float(weights[index].sum(dtype=np.float64)) / len(index) ** power
    return total


def _word_windows(
    weights: FloatArray,
    grams: WordGrams,
    starts: npt.NDArray[np.int64],
    window: int,
    power: float,
) -> npt.NDArray[np.float64]:
    """Word part of each window's logit: the words (and pairs) that start inside it."""
    first = np.searchsorted(grams.starts, starts)
    last = np.searchsorted(grams.starts, starts + window)
    out = np.zeros(len(starts), dtype=np.float64)
    for index, pairs in ((grams.unigrams, 0), (grams.bigrams, 1)):
        sums = np.concatenate(([0.0], np.cumsum(weights[index], dtype=np.float64)))
        low = np.minimum(first, len(index))
        end = np.clip(last - pairs, low, len(index))
        out += (sums[end] - sums[low]) / np.maximum(end - low, 1) ** power
    return out


def _sigmoid(value: float) -> float:
    return float(1.0 / (1.0 + np.exp(-value)))
