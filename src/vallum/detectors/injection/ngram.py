"""A hashed byte n-gram linear model: numpy-only scoring, whole text or sliding windows.

Features are the hashed byte n-grams of the lower-cased text (digits folded to ``0``) and,
when the model has word weights, its hashed word unigrams and bigrams (``words.py``);
each order's counts are divided by ``n ** power`` (``n`` its number of n-grams), so a
text's logit is ``bias + Σ_order sum(w[grams]) / n ** power``.
That sum is additive over positions: window scores come from one cumulative sum, so
overlapping windows cost no more than one pass.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from importlib import resources
from io import BytesIO

import numpy as np
import numpy.typing as npt

from vallum.detectors.injection.words import WordGrams, hash_words
from vallum.errors import ConfigError

__all__ = [
    "WHOLE_WINDOWS",
    "Hashed",
    "NgramModel",
    "hash_grams",
    "hash_joined",
    "hash_orders",
    "prepare",
    "prepare_lowered",
]

_DIGITS = re.compile(r"\d")
_FEW_WINDOWS = 8
WHOLE_WINDOWS = 4  # texts up to this many windows long are also scored whole
_ASCII_DIGITS = str.maketrans("123456789", "000000000")
_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_SEED = np.uint64(0xCBF29CE484222325)
_SEED_PRIME = np.uint64((0xCBF29CE484222325 * 0x100000001B3) % 2**64)

FloatArray = npt.NDArray[np.float32]
Hashed = tuple[npt.NDArray[np.int64], list[int]]  # what ``hash_joined`` returns


def prepare(text: str) -> npt.NDArray[np.uint8]:
    """The byte sequence the model reads: lower-case, digits as 0, whitespace collapsed."""
    return prepare_lowered(text.lower())


def prepare_lowered(text: str) -> npt.NDArray[np.uint8]:
    """``prepare`` of a text that is already lower-cased (``str.lower`` is idempotent)."""
    if text.isascii():  # translate is a single C pass on ASCII text only
        text = text.translate(_ASCII_DIGITS)
    elif _DIGITS.search(text):
        text = _DIGITS.sub("0", text)
    if text:  # the same as re.sub(r"\s+", " ", text): split() and \s agree (str.isspace)
        joined = " ".join(text.split())
        head = " " if text[0].isspace() else ""
        tail = " " if text[-1].isspace() and joined else ""
        text = head + joined + tail
    return np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)


def hash_grams(data: npt.NDArray[np.uint8], order: int, bits: int) -> npt.NDArray[np.int64]:
    """Bucket index of every byte n-gram of ``order`` (empty if the text is shorter)."""
    return hash_orders(data, (order,), bits)[0]


def hash_orders(
    data: npt.NDArray[np.uint8], orders: tuple[int, ...], bits: int
) -> list[npt.NDArray[np.int64]]:
    """Bucket indexes of the n-grams of every order, one rolling pass for all orders."""
    flat, bounds = hash_joined(data, orders, bits)
    return [flat[low:high] for low, high in itertools.pairwise(bounds)]


def hash_joined(
    data: npt.NDArray[np.uint8], orders: tuple[int, ...], bits: int
) -> tuple[npt.NDArray[np.int64], list[int]]:
    """``hash_orders`` as one array (order after order) and the bounds of each order.

    The hash of an n-gram extends the hash of its (n-1)-gram prefix by one byte, so
    the orders 1..5 cost five multiply-adds per byte, not fifteen.
    """
    size = len(data)
    counts = [max(0, size - order + 1) for order in orders]
    bounds = [0, *itertools.accumulate(counts)]
    flat = np.empty(bounds[-1], dtype=np.uint64)
    wide = data.astype(np.uint64)
    value = wide + _SEED_PRIME  # order 1: seed * prime + byte
    for order in range(1, max(orders) + 1):
        count = size - order + 1
        if count <= 0:
            break
        if order > 1:
            value = value[:count] * _PRIME + wide[order - 1 :]
        for slot, wanted in enumerate(orders):
            if wanted == order:
                np.add(value, np.uint64(order), out=flat[bounds[slot] : bounds[slot + 1]])
    flat *= _MIX
    flat >>= np.uint64(64 - bits)
    return flat.view(np.int64), bounds


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
    # byte then word weights in one array: every feature of a text is one gather
    table: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = [self.weights] if self.word_weights is None else [self.weights, self.word_weights]
        table = np.concatenate(parts)  # float32 when loaded; training passes float64
        object.__setattr__(self, "table", table)  # the weights become views of it
        object.__setattr__(self, "weights", table[: len(self.weights)])
        if self.word_weights is not None:
            object.__setattr__(self, "word_weights", table[len(self.weights) :])

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
        sums, bounds, _ = self._features(prepare(text), None)
        return self._whole(sums, bounds)

    def score(self, text: str) -> float:
        """Probability-like score of the whole text."""
        return _sigmoid(self.logit(text))

    def window_scores(self, text: str) -> FloatArray:
        """Scores of overlapping windows (``window`` bytes, every ``stride``) of a long text."""
        return self._scores(prepare(text), None)[1]

    def max_score(self, text: str) -> float:
        """The highest of the window scores and, for texts the training saw whole, the
        whole-text score.

        Beyond ``WHOLE_WINDOWS`` windows the whole-text score is not used: with counts
        divided by √n, repeating a text raises its whole-text score (√repeats), and the
        model was trained on texts of at most that length.
        """
        return self.max_score_prepared(prepare(text))

    def max_score_prepared(
        self, data: npt.NDArray[np.uint8], hashed: Hashed | None = None
    ) -> float:
        """``max_score`` of ``prepare(text)``; ``hashed``: its ``hash_joined`` for this
        model's orders and bits, if the caller has them already."""
        whole, windows = self._scores(data, hashed)
        best = float(windows.max())
        return max(whole, best) if len(data) <= WHOLE_WINDOWS * self.window else best

    def _features(
        self, data: npt.NDArray[np.uint8], hashed: Hashed | None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], WordGrams | None]:
        """Cumulative sum of the weights of all features, one segment per feature family
        (each byte order, then word unigrams and bigrams), and the segment bounds."""
        flat, edges = hash_joined(data, self.orders, self.bits) if hashed is None else hashed
        grams = None
        if self.word_weights is not None:
            grams = hash_words(data, self.word_bits)
            flat = np.concatenate((flat, grams.joined + len(self.weights)))
            edges = [*edges, edges[-1] + len(grams.unigrams), len(flat)]
        sums = np.zeros(len(flat) + 1, dtype=np.float64)
        np.cumsum(self.table[flat], dtype=np.float64, out=sums[1:])
        return sums, np.asarray(edges, dtype=np.int64), grams

    def _whole(self, sums: npt.NDArray[np.float64], bounds: npt.NDArray[np.int64]) -> float:
        """Logit of the whole text: each family's sum over (its count) ** power."""
        counts = np.diff(bounds)
        used = counts > 0
        totals = sums[bounds[1:]] - sums[bounds[:-1]]
        return self.bias + float((totals[used] / counts[used] ** self.power).sum())

    def _scores(
        self, data: npt.NDArray[np.uint8], hashed: Hashed | None
    ) -> tuple[float, FloatArray]:
        """Whole-text score and window scores from one hashing pass and one cumulative sum."""
        size = len(data)
        sums, bounds, grams = self._features(data, hashed)
        whole = _sigmoid(self._whole(sums, bounds))
        if size <= self.window:
            return whole, np.asarray([whole], dtype=np.float32)
        starts = np.arange(0, size - self.window + self.stride, self.stride)
        starts = np.minimum(starts, size - self.window)
        if len(starts) <= _FEW_WINDOWS:  # the same sums, without numpy's per-call cost
            logits = np.asarray(self._few_windows(sums, bounds, grams, starts))
        else:
            logits = self._many_windows(sums, bounds, grams, starts)
        return whole, (1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))).astype(np.float32)

    def _many_windows(
        self,
        sums: npt.NDArray[np.float64],
        bounds: npt.NDArray[np.int64],
        grams: WordGrams | None,
        starts: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.float64]:
        """Window logits: one row of (first, end) feature positions per feature family."""
        spans = self.window - np.asarray(self.orders, dtype=np.int64) + 1
        low = bounds[: len(spans), None] + starts
        high = low + spans[:, None]
        divide = np.repeat(spans[:, None] ** self.power, len(starts), axis=1)
        if grams is not None:
            word_low, word_high, count = _word_spans(grams, starts, self.window)
            low = np.vstack((low, word_low + bounds[len(spans) : -1, None]))
            high = np.vstack((high, word_high + bounds[len(spans) : -1, None]))
            divide = np.vstack((divide, count**self.power))
        logits: npt.NDArray[np.float64] = ((sums[high] - sums[low]) / divide).sum(axis=0)
        return self.bias + logits

    def _few_windows(
        self,
        sums: npt.NDArray[np.float64],
        bounds: npt.NDArray[np.int64],
        grams: WordGrams | None,
        starts: npt.NDArray[np.int64],
    ) -> list[float]:
        """``_many_windows`` in plain Python, for the usual one or two windows."""
        edges = bounds.tolist()
        firsts = lasts = starts.tolist()
        if grams is not None:
            firsts = np.searchsorted(grams.starts, starts).tolist()
            lasts = np.searchsorted(grams.starts, starts + self.window).tolist()
        out = []
        for start, first, last in zip(starts.tolist(), firsts, lasts, strict=True):
            total = self.bias
            for row, order in enumerate(self.orders):
                span = self.window - order + 1
                base = edges[row] + start
                total += float(sums[base + span] - sums[base]) / span**self.power
            if grams is not None:
                row = len(self.orders)
                for pairs, count in enumerate((len(grams.unigrams), len(grams.bigrams))):
                    low = min(first, count)
                    end = min(max(last - pairs, low), count)
                    base = edges[row + pairs]
                    delta = float(sums[base + end] - sums[base + low])
                    total += delta / max(end - low, 1) ** self.power
            out.append(total)
        return out


def _word_spans(
    grams: WordGrams, starts: npt.NDArray[np.int64], window: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per window, the range of its unigrams and bigrams (those that start inside it) and
    their counts (at least 1): rows unigrams, bigrams."""
    first = np.searchsorted(grams.starts, starts)
    last = np.searchsorted(grams.starts, starts + window)
    sizes = np.asarray([[len(grams.unigrams)], [len(grams.bigrams)]], dtype=np.int64)
    low = np.minimum(first, sizes)
    high = np.clip(np.vstack((last, last - 1)), low, sizes)
    return low, high, np.maximum(high - low, 1)


def _sigmoid(value: float) -> float:
    return float(1.0 / (1.0 + np.exp(-min(60.0, max(-60.0, value)))))
