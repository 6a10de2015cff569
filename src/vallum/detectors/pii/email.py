"""Email addresses: RFC-5322-ish local part, a dotted domain and a letter TLD."""

from __future__ import annotations

import re

from vallum.detectors.patterns import PatternRecognizer, context_pattern

__all__ = ["email_recognizers"]

_EMAIL = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w\-])"
)


def _valid(value: str) -> bool:
    local = value.split("@", 1)[0]
    return ".." not in local and not local.endswith(".")


def email_recognizers() -> list[PatternRecognizer]:
    return [
        PatternRecognizer(
            "EMAIL_ADDRESS",
            _EMAIL,
            0.9,
            "pii.email",
            validator=_valid,
            context=context_pattern(["email", "e-mail", "mail", "contact", "write"]),
            context_score=1.0,
            around=("@",),
        )
    ]
