"""Organisation cues added this round, and the PII pre-filter's shortcuts.

Texts are written for these tests (company names are made up or well known), not copied
from the evaluation files. The shortcut tests compare a recognizer with its pre-filter
against the same pattern scanned at every character.
"""

from __future__ import annotations

import random

import pytest

from tests.support.recognizers import full_scan
from vallum.detectors.patterns import PatternRecognizer
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
        full = full_scan(recognizer, text)
        assert fast == full, text


# pieces for the index tests: digits of several scripts, separators, capitalised runs with
# particles, initials and titles, Unicode capitals and whitespace ("\x1c" splits a token)
INDEX_PIECES = [
    "+44 (0)20 7946-0958", "10.0.0.1", "4111-1111 1111", "12", "٣٤٥", "(", "+(", " ", "\t",
    "\n", ".", "Dr. Faina D. Yefremova", "Mr Smith", "Dyan van Gijn", "Vazquez-Riggs",
    "O'Neil", "Émile Zola", "Łukasz", "the", "A & B", "x" * 16, "\x1c", "-", ",",
]  # fmt: skip


def test_ascii_index_patterns_match_the_unicode_ones() -> None:
    """The index's ASCII twins (numbers, capital runs) give the Unicode patterns' spans."""
    from vallum.detectors.textindex import _CAP_RUN, _NUMBER, TextIndex

    rng = random.Random(20251127)
    seen_ascii = 0
    for _ in range(600):
        text = "".join(rng.choice(INDEX_PIECES) for _ in range(rng.randrange(1, 12)))
        seen_ascii += text.isascii()
        index = TextIndex(text)
        assert index.numbers == [m.span() for m in _NUMBER.finditer(text)], text
        assert index.cap_runs == [m.span() for m in _CAP_RUN.finditer(text)], text
    assert seen_ascii > 100  # both branches were exercised


def _numeric_starts(text: str, numbers: list[tuple[int, int]], min_digits: int) -> list[int]:
    """The plain form: per threshold, per number, every digit run by regex."""
    import re

    out: list[int] = []
    for start, end in numbers:
        ascii_digits = sum(c in "0123456789" for c in text[start:end])  # as the index counts
        digits = ascii_digits if end - start >= 7 else end - start
        if digits >= min_digits:
            if start and text[start - 1] in "+(":
                out += [start - 2] if start > 1 and text[start - 2 : start] == "+(" else []
                out.append(start - 1)
            out += [m.start() for m in re.finditer(r"\d\d*", text[:end]) if m.start() >= start]
    return out


def test_numeric_starts_and_word_verdicts_are_exact() -> None:
    """Digit-run starts shared across thresholds, and ``has_any``'s kept verdicts."""
    from vallum.detectors.base import TextIndex

    rng = random.Random(20251128)
    for _ in range(300):
        text = "".join(rng.choice(INDEX_PIECES) for _ in range(rng.randrange(1, 12)))
        index = TextIndex(text)
        for min_digits in (12, 7, 9, 1, 7):
            expected = _numeric_starts(text, index.numbers, min_digits)
            assert index.numeric_starts(min_digits) == expected, (text, min_digits)
        lower = text.lower()
        for words in (("dr", "zz"), ("zz",), ("smith", "dr"), ("zz", "qq")):
            assert index.has_any(words) == any(w in lower for w in words)
            assert index.has_any(words) == any(w in lower for w in words)  # kept verdicts


def test_seek_before_gate_finds_what_the_gate_first_finds() -> None:
    """A recognizer with a ``seek`` and a ``gate`` looks at its positions first: same matches."""
    card_context = next(
        r for r in DETECTOR.recognizers if getattr(r, "name", "") == "pii.card_context"
    )
    texts = [
        "Charge it to my card 4000 0566 5566 5556 please.",  # a test PAN: vetoed either way
        "My debit card is 6011 0009 9013 9424.",
        "Card on file: 3530 1113 3330 0000 and 5105 1051 0510 5100.",
        "No numbers here but the word card.",
        "A long number 1234 5678 9012 3452 and no context word.",
        "Debit card 9900 1234 5678 9017, backup card 4539 1488 0343 6467.",  # Luhn-valid
        "Pay with 9900-1234-5678-9017 or call 1234 5678 9012 3452.",  # "pay" gates, no context
        "Please charge 9900 1234 5678 9017 today.",
    ]
    found = 0
    for text in texts:
        fast = [(m.start, m.end, m.score) for m in card_context.find(text)]
        gated = PatternRecognizer(**{**_fields(card_context), "seek": None})
        full = [(m.start, m.end, m.score) for m in gated.find(text)]
        assert fast == full, text
        found += len(fast)
    assert found >= 3  # the comparison saw matches, not only empty lists


def _fields(recognizer: PatternRecognizer) -> dict[str, object]:
    from dataclasses import fields

    return {f.name: getattr(recognizer, f.name) for f in fields(recognizer)}
