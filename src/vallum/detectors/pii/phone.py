"""Phone numbers: a permissive shape, confirmed by ``phonenumbers`` or by context words."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import phonenumbers

from vallum.detectors.base import CONTEXT_CHARS, Match, TextIndex, context_pattern, match_at

__all__ = ["DEFAULT_REGIONS", "PhoneRecognizer"]

DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "IT", "ES", "NL", "BE", "CH", "AT", "AU", "CA", "IE")
_SHAPE = re.compile(
    r"(?<![\w+@/.\-])(?:\+|00)?\(?\d[\d \t().\-]{5,21}\d"
    r"(?:\s?(?:x|ext\.?|#)\s?\d{1,5})?(?![\w@]|[.\-]\d)"
)
_DATE_LIKE = re.compile(
    r"^(?:\d{3}-\d{2}-\d{4}|\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$"
)
_CONTEXT = context_pattern(
    ["phone", "call", "mobile", "cell", "tel", "telephone", "fax", "desk", "office", "contact",
     "reach", "whatsapp", "sms", "text me", "answering", "messages to", "registered", "dial",
     "number", "ring", "landline", "hotline"]
)  # fmt: skip
_AFTER = re.compile(r"^[\s\-,\\]{0,3}(?:office|fax|mobile|home|cell|work)", re.IGNORECASE)


class PhoneRecognizer:
    """Phone numbers in international or national format for the configured regions."""

    kinds = frozenset({"PHONE_NUMBER"})

    def __init__(self, regions: Sequence[str] = DEFAULT_REGIONS, cache_size: int = 4096) -> None:
        self.regions = tuple(regions)
        self.cache_size = cache_size
        self._verdicts: dict[str, bool] = {}  # value -> valid: parsing is the costly part
        for region in self.regions:  # load each region's metadata now, not on a first request
            _parses("1", region)

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        for found in match_at(_SHAPE, text, index.digit_starts):
            start, end = found.span()
            value = found.group()
            if value.count("(") != value.count(")"):
                if value.startswith("(") and ")" not in value:
                    continue
                value = value.rstrip(")")
                end = start + len(value)
            digits = sum(ch.isdigit() for ch in value)
            if not 7 <= digits <= 16 or _DATE_LIKE.match(value) or _looks_like_other(value):
                continue
            context = _has_context(text, start, end)
            valid = self._valid(value)
            if valid:
                yield Match("PHONE_NUMBER", start, end, 0.95 if context else 0.7, "pii.phone", "1")
            elif context and digits <= 15:
                yield Match("PHONE_NUMBER", start, end, 0.6, "pii.phone", "1")

    def _valid(self, value: str) -> bool:
        verdict = self._verdicts.get(value)
        if verdict is None:
            if len(self._verdicts) >= self.cache_size:
                self._verdicts.clear()
            verdict = self._verdicts[value] = self._parse(value)
        return verdict

    def _parse(self, value: str) -> bool:
        cleaned = value.replace("(0)", "")
        if cleaned.startswith(("+", "00")):
            return _parses(
                cleaned.replace("00", "+", 1) if cleaned.startswith("00") else cleaned, None
            )
        return any(_parses(cleaned, region) for region in self.regions)


def _parses(value: str, region: str | None) -> bool:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


def _looks_like_other(value: str) -> bool:
    compact = value.replace(" ", "")
    # dotted quads (IPs, versions) and bare long digit runs (card or order numbers) are not phones
    return (compact.count(".") >= 3 and "(" not in compact) or (
        compact.isdigit() and len(compact) > 12
    )


def _has_context(text: str, start: int, end: int) -> bool:
    assert _CONTEXT is not None  # noqa: S101 - built from a non-empty list
    before = text[max(0, start - CONTEXT_CHARS) : start].lower()
    return _CONTEXT.search(before) is not None or _AFTER.match(text[end : end + 12]) is not None
