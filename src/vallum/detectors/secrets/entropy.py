"""High-entropy tokens next to a credential word ("token = …"); hex digests and UUIDs excluded."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

from vallum.detectors.base import Match, TextIndex
from vallum.detectors.patterns import literal_starts, match_at

__all__ = ["EntropyRecognizer", "shannon_bits"]

_ASSIGNED = re.compile(
    r"(?i)(?:password|passwd|pwd|secret|token|api[_\- ]?key|apikey|access[_\- ]?key|auth"
    r"|bearer|credential|private[_\- ]?key|client[_\- ]?secret)[\w\-]{0,20}[\"']?"
    r"\s*(?:[:=]|=>|is)\s*"
    r"[\"']?(?P<value>[A-Za-z0-9+/_\-.~!@#$%^&*]{8,256})"
)
# Every match of _ASSIGNED begins with one of these (lower-cased): the pre-filter.
_SEEK = literal_starts(
    "passw", "pwd", "secret", "token", "api", "access", "auth", "bearer", "credential",
    "private", "client", lower=True,
)  # fmt: skip
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def shannon_bits(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


class EntropyRecognizer:
    """Values assigned to credential-named keys, when they look random (not words, not hashes)."""

    kinds = frozenset({"API_KEY_SECRET"})

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        for found in match_at(_ASSIGNED, text, _SEEK(index or TextIndex(text))):
            value = found.group("value").rstrip(".,;")
            if _HEX.match(value) or _UUID.match(value) or value.isalpha():
                continue
            bits = shannon_bits(value)
            if len(value) >= 8 and bits >= 3.0:
                score = 0.9 if bits >= 3.5 else 0.7
                start = found.start("value")
                yield Match(
                    "API_KEY_SECRET", start, start + len(value), score, "secrets.entropy", "1"
                )
