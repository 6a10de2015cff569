"""Organisation cues added this round, and the PII pre-filter's shortcuts.

Texts are written for these tests (company names are made up or well known), not copied
from the evaluation files. The shortcut tests compare a recognizer with its pre-filter
against the same pattern scanned at every character.
"""

from __future__ import annotations

import random

import pytest

from vallum.detectors.base import PatternRecognizer
from vallum.detectors.pii import PiiDetector
from vallum.detectors.pii.crypto import crypto_recognizers
from vallum.detectors.pii.detector import _has_digit
from vallum.detectors.pii.network import network_recognizers

DETECTOR = PiiDetector()


def _found(text: str, kind: str) -> list[str]:
    return [text[m.start : m.end] for m in DETECTOR.detect(text) if m.kind == kind]


# (organisation, text): a company named by what it does or has, or on a signature line
ORG_POSITIVES = [
    ("Plotwatt", "Plotwatt announced a new round of funding on Monday."),
    ("Telenav", "In 2015, Telenav acquired a small mapping startup."),
    ("Brightfold", "Brightfold's CEO stepped down after the audit."),
    ("Quillora", "The Quillora office is at the end of the pier."),
    ("Zentravo", "Zentravo is a Dutch payments and lending company based in Delft."),
    ("Microsoft", "Former Microsoft CEO Steve Ballmer announced a plan."),
    ("Veltrix", "Best,\nMarta Kowalska\nVeltrix\n+48 22 555 01 23"),
    ("Orbiqa", "> Jonas Lindqvist\n> Orbiqa\n> Storgatan 12\n"),
]
# look-alikes: people, places, dictionary words and addresses in the same positions
ORG_NEGATIVES = [
    "Jason announced the results at noon.",  # a first name
    "Murphy announced a plan.",  # a lone surname
    "Apple announced a phone.",  # a lone dictionary word (precision over recall)
    "The Paris office is closed on Mondays.",  # a place
    "Visit the Main Street office.",  # a street
    "Regards,\nAnna Berg\nStockholm\n",  # a town under a name
    "Best,\nJohn Smith\nManager\n",  # a role under a name
    "Our founders: Qworrin, Becker and Vasquez.",  # a list's later items, not a firm
]


@pytest.mark.parametrize(("org", "text"), ORG_POSITIVES)
def test_organisation_cues(org: str, text: str) -> None:
    assert org in _found(text, "ORGANIZATION")


@pytest.mark.parametrize("text", ORG_NEGATIVES)
def test_organisation_lookalikes(text: str) -> None:
    assert _found(text, "ORGANIZATION") == []


def test_english_word_ending_like_a_street_is_no_address() -> None:
    # "During" ends in "-ring" (a German street ending): not "During 1971" as a street
    text = "During 1971, Mayo-Walters invested heavily in chips."
    assert _found(text, "STREET_ADDRESS") == []
    assert _found("Sie wohnt am Lindenring 14 in Jena.", "STREET_ADDRESS") == ["Lindenring 14"]


def test_digit_free_text_skips_numeric_recognizers() -> None:
    # the gate must not hide what the digit-free recognizers find
    text = "Mail jane.doe@example.org or ask Dr Jane Okafor at aa:bb:cc:dd:ee:ff."
    kinds = {m.kind for m in DETECTOR.detect(text)}
    assert {"EMAIL_ADDRESS", "PERSON", "MAC_ADDRESS"} <= kinds
    assert _has_digit("Straße ٣") and _has_digit("room 7") and _has_digit("Zürich 8004")
    assert not _has_digit("Zürich") and not _has_digit("no digits here")


def _plain(recognizer: PatternRecognizer) -> PatternRecognizer:
    return PatternRecognizer(
        recognizer.kind,
        recognizer.pattern,
        recognizer.score,
        recognizer.name,
        validator=recognizer.validator,
        context=recognizer.context,
        context_score=recognizer.context_score,
        needs_context=recognizer.needs_context,
        group=recognizer.group,
        veto=recognizer.veto,
    )


PIECES = [
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "x1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "00:1A:2B:3C:4D:5E", "aa-bb-cc-dd-ee-ff",
    "x:00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E:6F", "fe80::1",
    "https://a-b-c-d.example.org/x:y", " ", "\n", "-", ":", "13", "word", "z" * 20,
]  # fmt: skip
TOKEN_SEEKERS = [
    r
    for r in [*crypto_recognizers(), *network_recognizers()]
    if r.name in ("pii.btc", "pii.mac", "pii.ipv6")
]


@pytest.mark.parametrize("recognizer", TOKEN_SEEKERS, ids=lambda r: r.name)
def test_token_seekers_find_what_a_full_scan_finds(recognizer: PatternRecognizer) -> None:
    rng = random.Random(20251126)
    for _ in range(400):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 8)))
        fast = [(m.start, m.end) for m in recognizer.find(text)]
        full = [(m.start, m.end) for m in _plain(recognizer).find(text)]
        assert fast == full, text
