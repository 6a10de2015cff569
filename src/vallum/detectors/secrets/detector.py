"""``SecretDetector``: provider keys, private keys, JWTs and high-entropy values in context."""

from __future__ import annotations

from vallum.detectors.base import (
    MAX_INPUT_CHARS,
    Detection,
    Match,
    Recognizer,
    TextIndex,
    resolve_overlaps,
)
from vallum.detectors.secrets.entropy import EntropyRecognizer
from vallum.detectors.secrets.providers import provider_recognizers

__all__ = ["SECRET_KINDS", "SecretDetector"]

SECRET_KINDS = ("API_KEY_SECRET", "PRIVATE_KEY")


class SecretDetector:
    """Pure and synchronous; patterns compiled at construction."""

    name = "secrets"
    version = "1"

    def __init__(self, min_score: float = 0.5, max_chars: int = MAX_INPUT_CHARS) -> None:
        self.min_score = min_score
        self.max_chars = max_chars
        self.recognizers: list[Recognizer] = [*provider_recognizers(), EntropyRecognizer()]

    def detect(self, text: str, index: TextIndex | None = None) -> list[Match]:
        return self.run(text, index).matches

    def run(self, text: str, index: TextIndex | None = None) -> Detection:
        truncated = len(text) > self.max_chars
        if truncated:
            text = text[: self.max_chars]
        if index is None or index.text is not text:
            index = TextIndex(text)
        found = [
            m for r in self.recognizers for m in r.find(text, index) if m.score >= self.min_score
        ]
        return Detection(resolve_overlaps(found), truncated)
