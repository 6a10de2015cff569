"""Payment card numbers: 12-19 digits, Luhn-valid, in a known issuer range."""

from __future__ import annotations

import re

from vallum.detectors.patterns import (
    CONTEXT_REACH,
    PatternRecognizer,
    context_pattern,
    seek_numeric,
)

__all__ = ["card_recognizers", "issuer_known", "luhn_valid"]

_CARD = re.compile(r"(?<![\w\-.])(?:\d[ \-]?){11,18}\d(?![\w\-]|\.\d)")
# Issuer prefixes (IIN ranges) of the major networks, as regexes over the digits.
_ISSUERS = re.compile(
    r"4"  # Visa
    r"|5[1-5]|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)"  # Mastercard
    r"|3[47]"  # American Express
    r"|6(?:011|22|4[4-9]|5)"  # Discover, China UnionPay co-brand
    r"|62|81"  # UnionPay
    r"|35(?:2[89]|[3-8]\d)|2131|1800"  # JCB (2131 and 1800: its 15-digit legacy ranges)
    r"|3(?:0[0-5]|09|6|8|9)"  # Diners Club
    r"|50|5[6-9]|6\d"  # Maestro
    r"|220[0-4]"  # Mir
)
_CONTEXT = context_pattern(
    ["card", "credit", "debit", "visa", "mastercard", "amex", "cc", "payment", "pan", "charge"]
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def issuer_known(digits: str) -> bool:
    return _ISSUERS.match(digits) is not None


# Policy: the networks' published test numbers are documentation, not personal data.
_TEST_CARDS = frozenset(
    {
        "4111111111111111", "4242424242424242", "4012888888881881", "4000056655665556",
        "5555555555554444", "5105105105105100", "2223003122003222", "378282246310005",
        "371449635398431", "6011111111111117", "6011000990139424", "3530111333300000",
        "3566002020360505", "30569309025904", "38520000023237", "4000000000000002",
    }
)  # fmt: skip


def _card_shaped(value: str) -> bool:
    """Luhn-valid 12-19 digits in card-like groups, and not a published test number."""
    digits = value.replace(" ", "").replace("-", "")
    if not 12 <= len(digits) <= 19 or len(set(digits)) < 3 or digits in _TEST_CARDS:
        return False
    groups = re.split(r"[ \-]", value)
    if len(groups) > 1 and len({len(g) for g in groups[:-1]}) > 2:
        return False  # separators, but not in card-like groups (dates, phone numbers)
    return luhn_valid(digits)


def _valid(value: str) -> bool:
    return _card_shaped(value) and issuer_known(value.replace(" ", "").replace("-", ""))


def card_recognizers() -> list[PatternRecognizer]:
    return [
        PatternRecognizer(
            "CREDIT_CARD",
            _CARD,
            0.85,
            "pii.card",
            validator=_valid,
            context=_CONTEXT,
            seek=seek_numeric(12),
        ),
        # Issuer tables go stale (new BIN ranges, co-brands): next to a card word, a
        # Luhn-valid number in card shape is enough, at a lower score.
        PatternRecognizer(
            "CREDIT_CARD",
            _CARD,
            0.5,
            "pii.card_context",
            validator=_card_shaped,
            context=_CONTEXT,
            context_score=0.75,
            needs_context=True,
            gate=(
                "card",
                "credit",
                "debit",
                "visa",  # ("mastercard" holds "card")
                "amex",
                "cc",
                "pay",
                "pan",
                "charge",
            ),
            reach=CONTEXT_REACH,
            seek=seek_numeric(12),
        ),
    ]
