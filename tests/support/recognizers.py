"""The reference a pre-filtered recognizer is checked against: its pattern at every character."""

from __future__ import annotations

from vallum.detectors.patterns import PatternRecognizer


def full_scan(recognizer: PatternRecognizer, text: str) -> list[tuple[int, int]]:
    """What the recognizer's pattern finds scanning every character (no pre-filter)."""
    plain = PatternRecognizer(
        recognizer.kind,
        recognizer.pattern,
        recognizer.score,
        recognizer.name,
        validator=recognizer.validator,
        context=recognizer.context,
        context_score=recognizer.context_score,
        needs_context=recognizer.needs_context,
        group=recognizer.group,
        veto=recognizer.veto,
    )
    return [(m.start, m.end) for m in plain.find(text)]
