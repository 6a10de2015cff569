"""US SSN / ITIN (with the SSA's never-issued ranges), passport and driver-licence numbers."""

from __future__ import annotations

import re

from vallum.detectors.patterns import (
    CONTEXT_REACH,
    PatternRecognizer,
    context_pattern,
    seek_numeric,
)

__all__ = ["national_id_recognizers", "ssn_valid"]

_SSN = re.compile(r"(?<![\w\-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w\-])")
_SSN_CONTEXT = context_pattern(
    ["ssn", "social security", "social-security", "ss#", "ss #", "taxpayer", "tin", "itin"]
)
_PASSPORT = re.compile(r"(?<![\w\-])[A-Z0-9]{1,2}\d{6,8}(?![\w\-])")
_PASSPORT_CONTEXT = context_pattern(
    ["passport", "passport no", "passport number", "travel document"]
)
_LICENSE = re.compile(
    r"(?<![\w\-])(?:[A-Z]{1,2}\d{5,14}|\d{6,12}|\d{3,4}-\d{2,3}-\d{3,4})(?![\w\-])"
)
_LICENSE_CONTEXT = context_pattern(
    [
        "driver's license",
        "drivers license",
        "driver license",
        "driving licence",
        "driver's licence",
        "driving license",
        "dl",
        "license number",
        "licence number",
        "license no",
    ]
)
_SSN_EXAMPLES = {"078051120", "219099999", "123456789"}  # published specimen numbers


def ssn_valid(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or group == "00" or serial == "0000":
        return False
    if area[0] == "9":
        return _itin_valid(digits)
    return digits not in _SSN_EXAMPLES and len(set(digits)) > 1


def _itin_valid(digits: str) -> bool:
    group = int(digits[3:5])
    return 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99


def _ssn_shape(value: str) -> bool:
    return ssn_valid(value) and (value[3] in "- " or True)


def national_id_recognizers() -> list[PatternRecognizer]:
    return [
        PatternRecognizer(
            "US_SSN",
            _SSN,
            0.6,
            "pii.ssn",
            validator=_ssn_shape,
            context=_SSN_CONTEXT,
            context_score=0.95,
            seek=seek_numeric(9),
        ),
        PatternRecognizer(
            "PASSPORT",
            _PASSPORT,
            0.5,
            "pii.passport",
            context=_PASSPORT_CONTEXT,
            needs_context=True,
            context_score=0.8,
            gate=("passport", "travel document"),
            reach=CONTEXT_REACH,
        ),
        PatternRecognizer(
            "US_DRIVER_LICENSE",
            _LICENSE,
            0.5,
            "pii.driver_license",
            context=_LICENSE_CONTEXT,
            needs_context=True,
            context_score=0.8,
            gate=("licen", "dl"),
            reach=CONTEXT_REACH,
        ),
    ]
