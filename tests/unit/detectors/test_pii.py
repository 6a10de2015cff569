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
    # JCB's 15-digit legacy range (2131, 1800) and an unlisted issuer next to a card word
    ("213173282369527", "CREDIT_CARD", "What is the limit for card 213173282369527?"),
    ("3509413199654323", "CREDIT_CARD", "the last billed amount for cc 3509413199654323"),
    # single first names, initials, particles, possessives, names typed in lower case
    ("David", "PERSON", "David had given him the address."),
    ("Faina D. Yefremova", "PERSON", "the verses from Faina D. Yefremova's Cautionary Tales"),
    ("Dyan van Gijn", "PERSON", "Dyan van Gijn\nEmployment manager"),
    ("lena andersson", "PERSON", "please block my card, my name is lena andersson."),
    ("Mr. John Smith", "PERSON", "Please ask Mr. John Smith to call."),
    # organisations: suffix with its full stop, partnerships, employer phrases
    ("Shepherd Ltd.", "ORGANIZATION", "The Shepherd Ltd. Orchestra was founded in 1997"),
    ("Jones, Smith and Davis", "ORGANIZATION", "a year at Jones, Smith and Davis as a clerk"),
    ("Weeks-Rivas", "ORGANIZATION", "a year at Weeks-Rivas as the assistant"),
    ("Wolters Kluwer", "ORGANIZATION", "I work for Wolters Kluwer"),
    # European and military address forms (Faker locales as in presidio-research)
    ("2274 Via delle Coste 41", "STREET_ADDRESS", "ship to 2274 Via delle Coste 41 please"),
    ("83854 Strickstrasse 61", "STREET_ADDRESS", "wohnt 83854 Strickstrasse 61 seit 2001"),
    ("479 95 Avenue des Tuileries Apt. 892 GUÉRET LI", "STREET_ADDRESS",
     "It's in 479 95 Avenue des Tuileries Apt. 892 GUÉRET LI"),
    ("PSC 1437, Box 3833\nAPO AA 66791", "STREET_ADDRESS",
     "Meet me at PSC 1437, Box 3833\nAPO AA 66791"),
    ("1317 Kimberly Way", "STREET_ADDRESS", "Onvia\n1317 Kimberly Way\n"),
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
    "Date: 1970-09-29 20:21:24 was the timestamp",  # a date-time, not a phone
    "My driver's license number is 5130634",  # another identifier named before it
    "Order 5323 9129 5131 4802 is late",  # Luhn fails: no card even with a card-ish shape
]

# Capitalised words that are names in the lexicons but not people here (policy: places,
# ranks and Title Case headings are not persons).
PERSON_NEGATIVES = [
    "Hello, what is the capital of France?",  # a country that is also a lexicon name
    "We shipped to Chile and Jamaica last week.",
    "The Princess Royal arrived this morning.",
    "I will be travelling to Czech Republic next week.",
    "Of The 70s You're Supposed To Hate (But Secretly Love)",
    "Georgia and China signed the treaty.",
    "0998 Calvin Cove Suite 316, Alishabury",  # a street, not Mr Calvin Cove
    "Math is hard; Server errors are harder.",
]


@pytest.mark.parametrize(("value", "kind", "text"), POSITIVES)
def test_positive(value: str, kind: str, text: str) -> None:
    found = [(text[m.start : m.end], m.kind) for m in DETECTOR.detect(text)]
    assert (value, kind) in found


@pytest.mark.parametrize("text", NEGATIVES)
def test_negative(text: str) -> None:
    kinds = {"CREDIT_CARD", "US_SSN", "IP_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "CRYPTO"}
    assert [m for m in DETECTOR.detect(text) if m.kind in kinds] == []


@pytest.mark.parametrize("text", PERSON_NEGATIVES)
def test_person_negative(text: str) -> None:
    assert [text[m.start : m.end] for m in DETECTOR.detect(text) if m.kind == "PERSON"] == []


def test_address_wins_over_a_name_inside_it() -> None:
    text = "Idris Ibragimov\nOnvia\n1317 Kimberly Way Laidlaw Green\n Apt. 962\n Grand Rapids"
    kinds = {text[m.start : m.end].split()[0]: m.kind for m in DETECTOR.detect(text)}
    assert kinds.get("1317") == "STREET_ADDRESS"
    assert "Kimberly" not in kinds


def test_entities_and_min_score_are_honoured() -> None:
    only_email = PiiDetector(PiiConfig(entities=["EMAIL_ADDRESS"]))
    text = "jane.doe@example.org 536-22-1234"
    assert [m.kind for m in only_email.detect(text)] == ["EMAIL_ADDRESS"]
    strict = PiiDetector(PiiConfig(entities=["US_SSN"], min_score=0.9))
    assert strict.detect("number 536-22-1234") == []
    assert strict.detect("SSN 536-22-1234") != []
