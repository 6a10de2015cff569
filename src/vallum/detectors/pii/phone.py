"""Phone numbers: a permissive shape, confirmed by numbering-plan metadata or by context words."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from vallum.detectors.base import Match, TextIndex
from vallum.detectors.patterns import CONTEXT_CHARS, context_pattern, context_window, match_at
from vallum.detectors.pii.phone_plans import NumberingPlans

__all__ = ["DEFAULT_REGIONS", "PhoneRecognizer"]

DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "IT", "ES", "NL", "BE", "CH", "AT", "AU", "CA", "IE")
_SHAPE = re.compile(
    r"(?<![\w+@/.\-])(?:\+|00)?\(?\d[\d \t().\-]{5,21}\d"
    r"(?:\s?(?:x|ext\.?|#)\s?\d{1,5})?(?![\w@]|[.\-]\d)"
)
_DATE_LIKE = re.compile(
    r"^(?:\d{3}-\d{2}-\d{4}$|\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$)"
)
# Another identifier named right before the number: not a phone, whatever its shape.
_OTHER_ID = re.compile(
    r"(?:licen[cs]e|passport|account|acct|order|invoice|ticket|ssn|social security|routing"
    r"|iban|tracking|policy|member|patient id|customer id)\b"
)
_CONTEXT_WORDS = context_pattern(
    ["phone", "call", "mobile", "cell", "tel", "telephone", "fax", "desk", "office", "contact",
     "reach", "whatsapp", "sms", "text me", "answering", "messages to", "registered", "dial",
     "number", "ring", "landline", "hotline"]
)  # fmt: skip
_CONTEXT = _CONTEXT_WORDS if _CONTEXT_WORDS is not None else re.compile("(?!)")
_DROP_DIGITS = str.maketrans("", "", "0123456789")
_KEEP_DIGITS = {c: None for c in range(0x3000) if not chr(c).isdigit() or c > 0x7F}
_AFTER = re.compile(r"[\s\-,\\]{0,3}(?:office|fax|mobile|home|cell|work)", re.IGNORECASE)


class PhoneRecognizer:
    """Phone numbers in international or national format for the configured regions."""

    name = "pii.phone"
    kinds = frozenset({"PHONE_NUMBER"})

    def __init__(self, regions: Sequence[str] = DEFAULT_REGIONS, cache_size: int = 4096) -> None:
        self.regions = tuple(regions)
        self.cache_size = cache_size
        self._verdicts: dict[str, bool] = {}  # value -> valid, bounded by ``cache_size``
        self.plans = NumberingPlans(self.regions)

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        for found in match_at(_SHAPE, text, index.numeric_starts(7)):
            start, end = found.span()
            value = found.group()
            if value.count("(") != value.count(")"):
                if value.startswith("(") and ")" not in value:
                    continue
                value = value.rstrip(")")
                end = start + len(value)
            digits = len(value) - len(value.translate(_DROP_DIGITS))
            if not 7 <= digits <= 16 or _DATE_LIKE.match(value) or _looks_like_other(value):
                continue
            before = context_window(text, start, CONTEXT_CHARS)
            if _OTHER_ID.search(before[-28:].rpartition("\n")[2]) is not None:
                continue
            context = _CONTEXT.search(before) is not None or _AFTER.match(text, end, end + 12)
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
        digits = cleaned.translate(_KEEP_DIGITS)
        if cleaned.startswith("+"):
            return self.plans.valid_international(digits)
        if cleaned.startswith("00"):
            return self.plans.valid_international(digits[2:])
        return self.plans.valid_national(digits)


def _looks_like_other(value: str) -> bool:
    compact = value.replace(" ", "")
    # dotted quads (IPs, versions) and bare long digit runs (card or order numbers) are not phones
    return (compact.count(".") >= 3 and "(" not in compact) or (
        compact.isdigit() and len(compact) > 12
    )
