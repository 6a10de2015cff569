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
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class WordGrams:
    """Bucket indexes of a text's word unigrams and bigrams, with their byte positions."""

    unigrams: npt.NDArray[np.int64]
    bigrams: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]  # byte offset of each word (bigram i starts at word i)

    def __len__(self) -> int:
        return len(self.unigrams)


def hash_words(data: npt.NDArray[np.uint8], bits: int) -> WordGrams:
    """Hash every word and every pair of neighbouring words of ``data`` into ``2**bits``."""
    is_word = _IS_WORD[data]
    previous = np.empty_like(is_word)
    if len(is_word):
        previous[0] = False
        previous[1:] = is_word[:-1]
    starts = np.flatnonzero(is_word & ~previous)
    if not len(starts):
        return WordGrams(_EMPTY, _EMPTY, _EMPTY)
    positions = np.flatnonzero(is_word)
    first = np.searchsorted(positions, starts)  # index in `positions` of each word's start
    run = np.repeat(np.arange(len(starts)), np.diff(np.append(first, len(positions))))
    offsets = (positions - starts[run]) % _OFFSETS
    words = np.add.reduceat(_TABLE[offsets, data[positions]], first)
    shift = np.uint64(64 - bits)
    unigrams = ((words * _MIX) >> shift).astype(np.int64)
    pairs = words[:-1] * _PRIME + words[1:] + _BIGRAM
    bigrams = ((pairs * _MIX) >> shift).astype(np.int64)
    return WordGrams(unigrams, bigrams, starts.astype(np.int64))
