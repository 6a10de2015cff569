"""IBANs (ISO 13616: country length table + mod-97) and common national bank formats."""

from __future__ import annotations

import re

from vallum.detectors.base import TextIndex
from vallum.detectors.patterns import CONTEXT_REACH, PatternRecognizer, context_pattern

__all__ = ["iban_recognizers", "iban_valid"]

# Lengths from the SWIFT IBAN registry.
_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}(?![A-Za-z0-9])")
# US routing number (ABA, weighted checksum) and UK sort code + account, with context.
_ABA = re.compile(r"(?<!\d)\d{9}(?!\d)")
_UK_ACCOUNT = re.compile(r"(?<![\d\-])\d{2}-\d{2}-\d{2}[ ,/]+\d{8}(?!\d)")
_IBAN_CONTEXT = context_pattern(["iban", "bank", "account", "transfer", "wire", "sepa"])
_BANK_CONTEXT = context_pattern(["routing", "aba", "sort code", "bank account", "account number"])


def iban_valid(value: str) -> bool:
    compact = value.replace(" ", "")
    if _LENGTHS.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _aba_valid(value: str) -> bool:
    d = [int(c) for c in value]
    weighted = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]
    return weighted % 10 == 0 and value[:2] in _ABA_PREFIXES


_ABA_PREFIXES = {f"{n:02d}" for n in (*range(0, 13), *range(21, 33), 61, 62, 63, 64, 65, 66, 67)}


def _seek_iban(index: TextIndex) -> list[int]:
    """Two capital letters right before a digit run ("DE89…")."""
    text = index.text
    return [s - 2 for s in index.cluster_starts if s >= 2 and text[s - 2 : s].isupper()]


def iban_recognizers() -> list[PatternRecognizer]:
    return [
        PatternRecognizer(
            "IBAN_CODE",
            _IBAN,
            0.9,
            "pii.iban",
            validator=iban_valid,
            context=_IBAN_CONTEXT,
            context_score=1.0,
            seek=_seek_iban,
        ),
        PatternRecognizer(
            "US_BANK_NUMBER",
            _ABA,
            0.6,
            "pii.aba",
            validator=_aba_valid,
            context=_BANK_CONTEXT,
            needs_context=True,
            gate=("routing", "aba", "sort code", "account"),
            reach=CONTEXT_REACH,
        ),
        PatternRecognizer(
            "UK_BANK_ACCOUNT",
            _UK_ACCOUNT,
            0.6,
            "pii.uk_bank",
            context=_BANK_CONTEXT,
            needs_context=True,
            gate=("routing", "aba", "sort code", "account"),
            reach=CONTEXT_REACH,
        ),
    ]
