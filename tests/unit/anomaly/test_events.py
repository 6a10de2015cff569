"""Prompt sketches: near-duplicates are similar, unrelated prompts are not; no text is kept."""

from __future__ import annotations

import pytest

from vallum.anomaly.events import ip_range, network_of, similarity, sketch_text

BASE = "Please summarize the quarterly revenue report for the northern sales region in detail"


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        (BASE, BASE, 1.0, 1.0),  # identical
        (BASE, BASE.replace("northern", "southern"), 0.4, 0.99),  # one slot changed
        (BASE, "Write a haiku about autumn leaves falling on a quiet pond tonight", 0.0, 0.25),
        ("What is the capital of France?", "What is the capital of Peru?", 0.3, 0.99),
    ],
    ids=["identical", "one-slot", "unrelated", "short-template"],
)
def test_similarity_ranges(a: str, b: str, low: float, high: float) -> None:
    score = similarity(sketch_text(a), sketch_text(b))
    assert low <= score <= high


def test_shape_is_the_opening_and_sketch_holds_no_text() -> None:
    one, two = (
        sketch_text("Translate this to French: cat"),
        sketch_text("Translate this to French: dog"),
    )
    assert one.shape == two.shape
    assert "cat" not in repr(one) and one.minhash.bit_length() <= 128


@pytest.mark.parametrize(
    ("ip", "cidr", "net"),
    [
        ("203.0.113.7", "203.0.113.0/24", "203.0"),
        ("2001:db8:1:2:3::9", "2001:db8:1:2::/64", "2001:db8"),
    ],
)
def test_ranges(ip: str, cidr: str, net: str) -> None:
    assert ip_range(ip) == cidr
    assert network_of(ip) == net
