"""The pre-filter (``TextIndex`` + seekers) finds what a full scan finds, only faster."""

from __future__ import annotations

import random
import re

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.recognizers import full_scan
from vallum.detectors.base import Match, TextIndex, resolve_overlaps
from vallum.detectors.patterns import (
    PatternRecognizer,
    TokenGated,
    literal_starts,
    match_at,
    seek_numeric,
)
from vallum.detectors.pii.card import card_recognizers
from vallum.detectors.pii.crypto import crypto_recognizers
from vallum.detectors.pii.email import email_recognizers
from vallum.detectors.pii.national_id import national_id_recognizers
from vallum.detectors.pii.network import network_recognizers
from vallum.detectors.pii.phone import DEFAULT_REGIONS, PhoneRecognizer
from vallum.detectors.secrets.providers import provider_recognizers

# Fragments that make texts with entities, near-misses and separators side by side.
FRAGMENTS = [
    "card 5323 9129 5131 4801", "4111-1111-1111-1111", "+44 (0)20 7946 0958", "(415) 555-2671",
    "536-22-1234", "10.0.0.1", "8.20.27.184", "2001:db8::1", "00:1A:2B:3C:4D:5E",
    "jane.doe@example.org", "a@b", "x@y.co", "sk-" + "A1b2C3d4" * 4, "AKIA" + "ABCDEFGHIJKLMNOP",
    "ghp_" + "a" * 36, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz", "  ", "\n", ", ",
    "-", ".", "(", ")", "+", "order 7165201041285803", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    "de:ad:be:ef:00:01", "AA-BB-CC-DD-EE-FF", "fe80::1ff:fe23:4567:890a", "v1.2.3",
    "Dr Jane Okafor", "the", "12",
]  # fmt: skip


def _texts() -> st.SearchStrategy[str]:
    pieces = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=12)
    return pieces.map(" ".join)


PREFILTERED = [
    r
    for r in [
        *card_recognizers(),
        *email_recognizers(),
        *national_id_recognizers(),
        *network_recognizers(),
        *(m for r in provider_recognizers() for m in getattr(r, "members", (r,))),
    ]
    if isinstance(r, PatternRecognizer)
    and (r.seek is not None or r.around or r.reach or r.trigger is not None)
]
# Patterns rewritten so ``re`` can skip ahead by first character, beside their plain form.
REWRITTEN = [
    (
        r"(?<![\w])[13][1-9A-HJ-NP-Za-km-z]{25,34}(?![\w])",
        next(r for r in crypto_recognizers() if r.name == "pii.btc").pattern,
    ),
]


@settings(max_examples=150, deadline=None)
@given(_texts())
def test_prefiltered_recognizers_match_afull_scan(text: str) -> None:
    index = TextIndex(text)
    for recognizer in PREFILTERED:
        fast = [(m.start, m.end) for m in recognizer.find(text, index)]
        assert fast == full_scan(recognizer, text), recognizer.name
    for plain, fast_pattern in REWRITTEN:
        assert [m.span() for m in fast_pattern.finditer(text)] == [
            m.span() for m in re.finditer(plain, text)
        ]
    gated = [r for r in provider_recognizers() if isinstance(r, TokenGated)]
    for group in gated:
        found = [(m.start, m.end) for m in group.find(text, index)]
        assert found == [s for member in group.members for s in full_scan(member, text)]


def test_numbers_and_runs() -> None:
    text = "Call +44 (0)20 7946-0958 or Dr Faina D. Yefremova, then Dyan van Gijn."
    index = TextIndex(text)
    assert [text[s:e] for s, e in index.numbers] == ["44 (0)20 7946-0958"]
    assert index.numeric_starts(7)[0] == text.index("+")
    assert index.numeric_starts(20) == []
    runs = [text[s:e] for s, e in index.cap_runs]
    assert "Dr Faina D. Yefremova" in runs
    assert "Dyan van Gijn" in runs
    assert "Call" in runs  # a sentence-initial word is its own run


def test_sentence_full_stop_does_not_join_runs() -> None:
    text = "I met Jason Russell. Their address changed."
    runs = [text[s:e] for s, e in TextIndex(text).cap_runs]
    assert "Jason Russell" in runs
    assert "Their" in runs


def test_long_tokens_and_literals() -> None:
    text = "short words then sk-abcdefghijklmnopqrstuvwxyz and AKIA twice AKIA"
    index = TextIndex(text)
    assert [text[s:e] for s, e in index.long_tokens] == ["sk-abcdefghijklmnopqrstuvwxyz"]
    assert literal_starts("AKIA")(index) == [i.start() for i in re.finditer("AKIA", text)]


def test_match_at_skips_starts_inside_a_match() -> None:
    pattern = re.compile(r"\d+(?: \d+)*")
    text = "12 34 56 x 78"
    found = [m.group() for m in match_at(pattern, text, [0, 3, 6, 11])]
    assert found == ["12 34 56", "78"]


def test_numeric_seek_is_a_superset_of_digit_entities() -> None:
    text = "SSN 536-22-1234, card 5323 9129 5131 4801"
    starts = seek_numeric(9)(TextIndex(text))
    assert text.index("536") in starts
    assert text.index("5323") in starts


def _naive(matches: list[Match]) -> list[Match]:
    ranked = sorted(matches, key=lambda m: (-m.score, -(m.end - m.start), m.start))
    kept: list[Match] = []
    for match in ranked:
        if all(match.end <= o.start or match.start >= o.end for o in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(1, 30), st.sampled_from([0.5, 0.7, 0.9])),
        max_size=40,
    )
)
def test_resolve_overlaps_equals_the_quadratic_greedy(spans: list[tuple[int, int, float]]) -> None:
    matches = [Match("X", s, s + n, score, "t", "1") for s, n, score in spans]
    assert resolve_overlaps(matches) == _naive(matches)


def _phonenumbers_verdict(value: str) -> bool:
    cleaned = value.replace("(0)", "")
    if cleaned.startswith(("+", "00")):
        candidates = [(cleaned.replace("00", "+", 1) if cleaned[0] == "0" else cleaned, None)]
    else:
        candidates = [(cleaned, region) for region in DEFAULT_REGIONS]
    for number, region in candidates:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return True
    return False


def test_numbering_plans_agree_with_phonenumbers() -> None:
    """Our metadata check gives ``phonenumbers.parse`` + ``is_valid_number``'s verdict."""
    recognizer = PhoneRecognizer()
    rng = random.Random(20251125)
    codes = ["1", "44", "49", "33", "39", "34", "31", "61", "353", "7", "81", "86", "55"]
    valid = 0
    for _ in range(300):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(7, 13)))
        roll = rng.random()
        if roll < 0.3:
            value = "+" + rng.choice(codes) + digits[:10]
        elif roll < 0.4:
            value = "00" + rng.choice(["44", "49", "33"]) + digits[:10]
        else:
            value = digits
        expected = _phonenumbers_verdict(value)
        valid += expected
        assert recognizer._parse(value) == expected, value
    assert 30 < valid < 270  # the sample holds both kinds


def test_context_words_are_whole_words_at_the_window_edge() -> None:
    """ "ver" (a version cue) cut from "over" at the window start is not a context word."""
    text = "over ok the the quick ok 192.168.10.77."
    found = [text[m.start : m.end] for r in network_recognizers() for m in r.find(text)]
    assert found == ["192.168.10.77"]
    assert [m.kind for m in next(iter(network_recognizers())).find("version 10.2.3.4")] == []


def test_lowercasing_that_moves_offsets_still_finds_literals() -> None:
    """ "İ".lower() is two characters: positions come from the original text then."""
    text = "İstanbul office: password = Xk9#mQ2!pL7z and more"
    assert len(text.lower()) != len(text)
    assert literal_starts("password", lower=True)(TextIndex(text)) == [text.index("password")]
