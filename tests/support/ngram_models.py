"""A small random n-gram model with word features, for injection-model unit tests."""

from __future__ import annotations

import numpy as np

from vallum.detectors.injection.ngram import NgramModel


def word_model(seed: int = 7) -> NgramModel:
    """Byte 3-5-grams (2^12 buckets) plus word features (2^10), 64-byte windows every 16."""
    rng = np.random.default_rng(seed)
    return NgramModel(
        rng.normal(size=1 << 12).astype(np.float32),
        0.1,
        (3, 4, 5),
        12,
        64,
        16,
        {},
        "test",
        power=0.5,
        word_weights=rng.normal(size=1 << 10).astype(np.float32),
        word_bits=10,
    )
