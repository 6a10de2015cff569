"""Dates of birth — only in context ("born on", "DOB"), since dates alone are not personal."""

from __future__ import annotations

import re

from vallum.detectors.patterns import CONTEXT_REACH, PatternRecognizer, context_pattern

__all__ = ["date_recognizers"]

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = re.compile(
    r"(?<![\w/\-.])(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:19|20)?\d{2}|(?:19|20)\d{2}-\d{1,2}-\d{1,2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? {_MONTHS},? (?:19|20)\d{{2}}|{_MONTHS} \d{{1,2}}(?:st|nd|rd|th)?,? (?:19|20)\d{{2}})"  # noqa: E501 - one regex alternative per line
    r"(?![\w/\-])"
)
_DOB_CONTEXT = context_pattern(
    ["dob", "d.o.b", "date of birth", "birth date", "birthdate", "born", "birthday", "born on"]
)


def date_recognizers() -> list[PatternRecognizer]:
    return [
        PatternRecognizer(
            "DATE_OF_BIRTH",
            _DATE,
            0.5,
            "pii.dob",
            context=_DOB_CONTEXT,
            needs_context=True,
            context_score=0.85,
            gate=("dob", "d.o.b", "birth", "born"),
            reach=CONTEXT_REACH,
        )
    ]
