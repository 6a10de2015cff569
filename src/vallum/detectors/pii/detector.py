"""``PiiDetector``: every PII recognizer behind one call, configured by ``PiiConfig``."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from vallum.detectors.base import (
    MAX_INPUT_CHARS,
    Detection,
    Match,
    Recognizer,
    TextIndex,
    resolve_overlaps,
)
from vallum.detectors.pii.address import AddressRecognizer
from vallum.detectors.pii.card import card_recognizers
from vallum.detectors.pii.crypto import crypto_recognizers
from vallum.detectors.pii.dates import date_recognizers
from vallum.detectors.pii.email import email_recognizers
from vallum.detectors.pii.iban import iban_recognizers
from vallum.detectors.pii.lexicons import load_lexicons
from vallum.detectors.pii.national_id import national_id_recognizers
from vallum.detectors.pii.network import network_recognizers
from vallum.detectors.pii.organization import OrganizationRecognizer
from vallum.detectors.pii.people import PersonRecognizer
from vallum.detectors.pii.phone import DEFAULT_REGIONS, PhoneRecognizer

__all__ = ["PII_KINDS", "PiiConfig", "PiiDetector"]

VERSION = "1"
PII_KINDS = (
    "CREDIT_CARD",
    "CRYPTO",
    "DATE_OF_BIRTH",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "ORGANIZATION",
    "PASSPORT",
    "PERSON",
    "PHONE_NUMBER",
    "STREET_ADDRESS",
    "UK_BANK_ACCOUNT",
    "URL_CREDENTIALS",
    "US_BANK_NUMBER",
    "US_DRIVER_LICENSE",
    "US_SSN",
)

# Recognizers none of whose matches can exist in a text without a digit (every pattern
# needs one; an address is looked for only before a number): skipped at once there.
_NEEDS_DIGIT = frozenset(
    {"pii.card", "pii.card_context", "pii.iban", "pii.aba", "pii.uk_bank", "pii.ssn",
     "pii.passport", "pii.driver_license", "pii.ipv4", "pii.ipv6", "pii.dob", "pii.btc",
     "pii.btc_bech32", "pii.eth", "pii.phone", "pii.address"}
)  # fmt: skip
_DIGIT = re.compile(r"\d")


def _has_digit(text: str) -> bool:
    """Whether ``text`` has a character ``\\d`` matches (ten ``in`` tests for ASCII)."""
    if text.isascii():
        return any(digit in text for digit in "0123456789")
    return _DIGIT.search(text) is not None


class PiiConfig(BaseModel):
    """Which entities to look for and how sure a match must be."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entities: list[str] | None = Field(
        None, max_length=len(PII_KINDS), description="Entity kinds to detect; None means all."
    )
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="Drop matches scoring below this.")
    regions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REGIONS),
        max_length=64,
        description="ISO 3166 regions whose national phone formats are recognised.",
    )
    max_chars: int = Field(
        MAX_INPUT_CHARS, ge=1, le=MAX_INPUT_CHARS, description="Longest text scanned."
    )


class PiiDetector:
    """Pure and synchronous: build once (patterns compiled, lexicons loaded), call often."""

    name = "pii"
    version = VERSION

    def __init__(self, config: PiiConfig | None = None) -> None:
        self.config = config or PiiConfig()
        wanted = set(self.config.entities) if self.config.entities is not None else set(PII_KINDS)
        unknown = wanted - set(PII_KINDS)
        if unknown:
            from vallum.errors import ConfigError

            raise ConfigError(f"unknown PII entity kinds: {sorted(unknown)}")
        self.kinds = frozenset(wanted)
        self.recognizers = [r for r in self._all() if r.kinds & wanted]
        # the same, less those that need a digit: for texts without one
        self.wordy = [r for r in self.recognizers if _name(r) not in _NEEDS_DIGIT]

    def _all(self) -> list[Recognizer]:
        recognizers: list[Recognizer] = [
            *email_recognizers(),
            *card_recognizers(),
            *iban_recognizers(),
            *national_id_recognizers(),
            *network_recognizers(),
            *date_recognizers(),
            *crypto_recognizers(),
            PhoneRecognizer(self.config.regions),
        ]
        if {"PERSON", "ORGANIZATION", "STREET_ADDRESS"} & self.kinds:
            lexicons = load_lexicons()
            recognizers += [
                AddressRecognizer(lexicons),
                PersonRecognizer(lexicons),
                OrganizationRecognizer(lexicons),
            ]
        return recognizers

    def detect(self, text: str, index: TextIndex | None = None) -> list[Match]:
        """Non-overlapping matches above ``min_score``, sorted by start.

        ``index`` lets a caller that also runs other detectors share the pre-filter pass.
        """
        return self.run(text, index).matches

    def run(self, text: str, index: TextIndex | None = None) -> Detection:
        truncated = len(text) > self.config.max_chars
        if truncated:
            text = text[: self.config.max_chars]
        if index is None or index.text is not text:
            index = TextIndex(text)
        floor = self.config.min_score
        recognizers = self.recognizers if _has_digit(text) else self.wordy
        found = [
            match
            for recognizer in recognizers
            for match in recognizer.find(text, index)
            if match.score >= floor and match.kind in self.kinds
        ]
        return Detection(resolve_overlaps(found), truncated)


def _name(recognizer: Recognizer) -> str:
    name = getattr(recognizer, "name", None)
    return name if isinstance(name, str) else ""
