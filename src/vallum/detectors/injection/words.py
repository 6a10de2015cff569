"""Hashed word unigrams and bigrams of the model's byte sequence, vectorised with numpy.

A word is a maximal run of letters, digits (already folded to ``0``), ``_`` or non-ASCII
bytes of the prepared (lower-cased) text. Its hash is a tabulation hash — the sum of one
random 64-bit number per (offset in the word, byte) — so every word of a text is hashed in a
handful of array operations, without a Python loop over words. Bigrams combine the hashes
of two neighbouring words. Word features transfer across attack families better than
character templates: "ignore … previous … instructions" reads the same in any wording
around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["WordGrams", "hash_words"]

_OFFSETS = 32  # offsets past this reuse the table rows (long words still hash well)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(0x100000001B3)
_BIGRAM = np.uint64(0x5851F42D4C957F2D)


def _word_bytes() -> npt.NDArray[np.bool_]:
    table = np.zeros(256, dtype=np.bool_)
    for low, high in ((ord("a"), ord("z")), (ord("0"), ord("9")), (0x80, 0xFF)):
        table[low : high + 1] = True
    table[ord("_")] = True
    table.flags.writeable = False
    return table


def _tabulation() -> npt.NDArray[np.uint64]:
    table = np.random.default_rng(20251125).integers(
        0, np.iinfo(np.uint64).max, size=(_OFFSETS, 256), dtype=np.uint64, endpoint=True
    )
    table.flags.writeable = False
    return table


_IS_WORD = _word_bytes()
_TABLE = _tabulation()
_FLAT = _TABLE.reshape(-1)  # row = offset in the word, column = byte
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class WordGrams:
    """Bucket indexes of a text's word unigrams and bigrams, with their byte positions."""

    unigrams: npt.NDArray[np.int64]
    bigrams: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]  # byte offset of each word (bigram i starts at word i)
    joined: npt.NDArray[np.int64]  # unigrams then bigrams (those two are views of it)

    def __len__(self) -> int:
        return len(self.unigrams)


def hash_words(data: npt.NDArray[np.uint8], bits: int) -> WordGrams:
    """Hash every word and every pair of neighbouring words of ``data`` into ``2**bits``."""
    positions = np.flatnonzero(_IS_WORD[data])  # the bytes that belong to words
    if not len(positions):
        return WordGrams(_EMPTY, _EMPTY, _EMPTY, _EMPTY)
    begins = np.empty(len(positions), dtype=np.bool_)  # a word starts at this byte
    begins[0] = True
    np.not_equal(np.diff(positions), 1, out=begins[1:])
    first = np.flatnonzero(begins)  # index in `positions` of each word's first byte
    offsets = np.arange(len(positions)) - first[np.cumsum(begins) - 1]
    cells = (offsets % _OFFSETS) * 256 + data[positions]
    words = np.add.reduceat(_FLAT[cells], first)
    hashes = np.empty(2 * len(words) - 1, dtype=np.uint64)
    hashes[: len(words)] = words
    np.multiply(words[:-1], _PRIME, out=hashes[len(words) :])
    hashes[len(words) :] += words[1:]
    hashes[len(words) :] += _BIGRAM
    hashes *= _MIX
    hashes >>= np.uint64(64 - bits)
    joined = hashes.view(np.int64)
    return WordGrams(joined[: len(words)], joined[len(words) :], positions[first], joined)
