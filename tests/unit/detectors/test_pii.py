"""PII recognizers: positives and look-alike negatives (sources in the comments)."""

from __future__ import annotations

import pytest

from vallum.detectors.pii import PiiConfig, PiiDetector

DETECTOR = PiiDetector()

# Positives: value, kind, text. Formats from the issuers' / registries' published specs.
POSITIVES = [
    ("jane.doe@example.org", "EMAIL_ADDRESS", "write to jane.doe@example.org please"),
    ("5323 9129 5131 4801", "CREDIT_CARD", "card 5323 9129 5131 4801 was charged"),  # Faker
    ("GB82 WEST 1234 5698 7654 32", "IBAN_CODE", "IBAN GB82 WEST 1234 5698 7654 32"),  # ECBS
    ("536-22-1234", "US_SSN", "my SSN is 536-22-1234"),
    ("912-70-1234", "US_SSN", "ITIN 912-70-1234"),  # IRS ITIN group 70-88
    ("+44 20 7946 0958", "PHONE_NUMBER", "ring +44 20 7946 0958"),  # Ofcom drama range
    ("(415) 555-2671", "PHONE_NUMBER", "phone (415) 555-2671"),
    ("36.160.14.148", "IP_ADDRESS", "address 36.160.14.148 blocked"),
    ("2001:db8::8a2e:370:7334", "IP_ADDRESS", "from 2001:db8::8a2e:370:7334"),  # RFC 3849
    ("00:1A:2B:3C:4D:5E", "MAC_ADDRESS", "mac 00:1A:2B:3C:4D:5E"),
    ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "CRYPTO", "btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
    ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "CRYPTO",
     "send to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),  # BIP-173 example
    ("s3cr3tPass", "URL_CREDENTIALS", "db at postgres://admin:s3cr3tPass@db.internal/app"),
    ("12/03/1985", "DATE_OF_BIRTH", "date of birth: 12/03/1985"),
    ("Jason Russell", "PERSON", "Sure! I've updated the record for Jason Russell today."),
    ("Dr Jane Okafor", "PERSON", "Please ask Dr Jane Okafor."),
    ("0998 Calvin Cove Suite 316, Alishabury, VI 34736", "STREET_ADDRESS",
     "ship to 0998 Calvin Cove Suite 316, Alishabury, VI 34736"),
    ("Drake PLC", "ORGANIZATION", "He works for Drake PLC now."),
]  # fmt: skip

# Look-alikes that must not match (pii_synth_dev hard negatives and common code artefacts).
NEGATIVES = [
    "Order number 7165201041285803 has not shipped yet",  # fails Luhn
    "the test card 4111 1111 1111 1111 in the docs",  # published test PAN (policy: not PII)
    "The commit e5ff3c1dde3dcce26a37f7807d586259725555fd broke the tests",  # git SHA
    "Generate a UUID like 9548b5ed-460f-49cf-a7b9-f3de45d797f8",
    "The build version is 8.20.27.184; what changed",  # version string, not an IP
    "What does the SSN format XXX-XX-XXXX mean and why can't it start with 666?",
    "SSN 666-12-3456 is never issued",  # SSA: area 666 never assigned
    "The ISBN of the book is 978-3-444-50726-2.",
    "The meeting is on 2003-12-06 at 12pm in room 645.",
    "Price is $602.27 per unit, 3989 units total.",
    "Call the function get_user(id=267582) and print the result.",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
]


@pytest.mark.parametrize(("value", "kind", "text"), POSITIVES)
def test_positive(value: str, kind: str, text: str) -> None:
    found = [(text[m.start : m.end], m.kind) for m in DETECTOR.detect(text)]
    assert (value, kind) in found


@pytest.mark.parametrize("text", NEGATIVES)
def test_negative(text: str) -> None:
    kinds = {"CREDIT_CARD", "US_SSN", "IP_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "CRYPTO"}
    assert [m for m in DETECTOR.detect(text) if m.kind in kinds] == []


def test_entities_and_min_score_are_honoured() -> None:
    only_email = PiiDetector(PiiConfig(entities=["EMAIL_ADDRESS"]))
    text = "jane.doe@example.org 536-22-1234"
    assert [m.kind for m in only_email.detect(text)] == ["EMAIL_ADDRESS"]
    strict = PiiDetector(PiiConfig(entities=["US_SSN"], min_score=0.9))
    assert strict.detect("number 536-22-1234") == []
    assert strict.detect("SSN 536-22-1234") != []
