"""Detector tables: each attack next to the benign traffic it must not be confused with."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.anomaly.support import event
from vallum.anomaly.detectors import Detectors
from vallum.anomaly.signals import Severity, Signal, Thresholds

RNG_WORDS = [f"w{i}" for i in range(3000)]


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(RNG_WORDS, k=rng.randint(low, high)))


def _extraction(rng: random.Random, i: int) -> dict[str, Any]:
    templates = [
        "What is the {a} of {e}? Answer in one word.",
        "Give the {a} of {e} and nothing else.",
        "Translate the word {e} into {a}.",
        "Rate from 1 to 10 how {a} the {e} is.",
        "Q: {e} {a}? A:",
        "Define {e} in the context of {a}.",
    ]
    text = rng.choice(templates).format(a=rng.choice(RNG_WORDS[:20]), e=rng.choice(RNG_WORDS))
    return {
        "text": text,
        "logprobs": True,
        "top_logprobs": rng.choice([5, 10, 20]),
        "temperature": rng.choice([0.0, 0.7, 1.4]),
    }


def _batch_long_slot(rng: random.Random, i: int) -> dict[str, Any]:
    return {"text": "Summarize this customer review in one sentence: " + _words(rng, 30, 80)}


def _batch_short_slot(rng: random.Random, i: int) -> dict[str, Any]:
    # one template, tiny slot, logprobs for confidence: the hardest benign case
    return {
        "text": "Classify the sentiment of this tweet as positive, negative or neutral: "
        + _words(rng, 6, 12),
        "logprobs": True,
        "top_logprobs": 5,
    }


def _chat(rng: random.Random, i: int) -> dict[str, Any]:
    return {"text": _words(rng, 5, 50), "temperature": 0.7}


def _load_test(rng: random.Random, i: int) -> dict[str, Any]:
    return {"text": "the same fixed prompt for every call of the load test"}


def _run(make: Callable[[random.Random, int], dict[str, Any]], rate_per_s: float) -> list[Signal]:
    rng, detectors, found = random.Random(3), Detectors(Thresholds()), []
    for i in range(400):
        found += detectors.observe(event(1_700_000_000.0 + i / rate_per_s, **make(rng, i)))
    return found


@pytest.mark.parametrize(
    ("make", "flagged"),
    [
        (_extraction, True),
        (_batch_long_slot, False),
        (_batch_short_slot, False),
        (_chat, False),
        (_load_test, False),
    ],
    ids=["extraction", "batch-one-template", "batch-short-slot-logprobs", "chat", "load-test"],
)
def test_extraction_vs_single_template_batch(
    make: Callable[[random.Random, int], dict[str, Any]], flagged: bool
) -> None:
    signals = [s for s in _run(make, rate_per_s=3.0) if s.detector == "extraction"]
    assert bool(signals) is flagged
    if flagged:
        assert signals[0].severity is Severity.CRITICAL  # 180 req/min: the fast campaign
        assert signals[0].evidence["parameter_settings"] >= 3


def test_slow_extraction_is_high_not_critical() -> None:
    signals = [s for s in _run(_extraction, rate_per_s=0.28) if s.detector == "extraction"]
    assert signals and signals[0].severity is Severity.HIGH
    assert signals[0].at - 1_700_000_000.0 < 600


def _failures(ips: list[str], count: int, gap: float, reason: str = "unknown_key") -> list[Signal]:
    detectors, found = Detectors(Thresholds()), []
    for i in range(count):
        found += detectors.observe(
            event(1_700_000_000.0 + i * gap, ip=ips[i % len(ips)], auth_failure=reason, text=None)
        )
    return found


def test_credential_stuffing_across_a_range_blocks_the_range() -> None:
    signals = _failures([f"192.0.2.{i}" for i in range(2, 60)], count=40, gap=0.2)
    assert signals and signals[0].subject == "range:192.0.2.0/24"
    assert signals[0].severity is Severity.CRITICAL


def test_a_user_mistyping_a_key_twice_is_nothing() -> None:
    assert _failures(["10.2.1.77"], count=2, gap=3.0) == []


def test_one_ip_failing_many_times_is_flagged_by_ip() -> None:
    signals = _failures(["10.9.9.9"], count=12, gap=1.0)
    assert signals[0].subject == "ip:10.9.9.9"


def test_a_revoked_key_still_tried() -> None:
    signals = _failures(["10.9.9.9"], count=3, gap=30.0, reason="key_revoked")
    assert any(s.evidence.get("reason") == "dead_key_tried" for s in signals)


def _per_minute(rates: list[int], team: str | None = None) -> list[Signal]:
    detectors, found, rng = Detectors(Thresholds()), [], random.Random(5)
    t = 1_700_000_000.0
    for minute, rate in enumerate(rates):
        for i in range(rate):
            at = t + minute * 60 + i * 60.0 / max(rate, 1)
            found += detectors.observe(event(at, team=team, text=_words(rng, 5, 40)))
    return [s for s in found if s.detector == "spike"]


def test_diurnal_growth_is_not_a_spike() -> None:
    rates = [10 + minute // 2 for minute in range(240)]  # 10 -> 130 req/min over four hours
    assert _per_minute(rates) == []


def test_sudden_spike_against_own_history() -> None:
    rates = [20] * 90 + [600]
    signals = _per_minute(rates)
    assert signals and signals[0].severity >= Severity.MEDIUM


def test_new_key_in_warm_up_ramping_is_not_a_spike() -> None:
    assert _per_minute([5 * m for m in range(1, 25)]) == []


def test_persistence_escalates_with_guard_blocks() -> None:
    detectors, found = Detectors(Thresholds()), []
    for i in range(20):
        found += detectors.observe(
            event(
                1_700_000_000.0 + i * 2,
                decided_by="input_guard",
                status=400,
                ip="100.64.5.9",
                finding_kinds=("input_guard:injection:ignore_previous",),
                guard_score=0.99,
            )
        )
    severities = [s.severity for s in found if s.detector == "persistence"]
    assert severities[0] is Severity.MEDIUM and Severity.HIGH in severities


@pytest.mark.parametrize(
    ("score", "why"),
    [(0.7, "a borderline verdict (a guard false positive)"), (0.0, "a pasted secret or PII")],
)
def test_persistence_ignores_unconfident_guard_blocks(score: float, why: str) -> None:
    """A benign app whose users trip guard false positives is not an attacker."""
    detectors, found = Detectors(Thresholds()), []
    for i in range(60):
        found += detectors.observe(
            event(
                1_700_000_000.0 + i * 2,
                decided_by="input_guard",
                status=400,
                guard_score=score,
            )
        )
    assert [s for s in found if s.detector == "persistence"] == [], why


def test_failed_logins_from_an_address_are_auth_failures_not_key_abuse() -> None:
    detectors, found = Detectors(Thresholds()), []
    for i in range(12):  # a NAT'd office mistyping keys
        found += detectors.observe(
            event(1_700_000_000.0 + i, key_id=None, auth_failure="unknown_key", ip="198.51.100.7")
        )
    assert found and {s.detector for s in found} == {"auth_failures"}


def test_leaked_key_used_from_a_new_network() -> None:
    detectors, found = Detectors(Thresholds()), []
    t = 1_700_000_000.0
    for i in range(200):  # 50 minutes from home
        found += detectors.observe(event(t + i * 15, ip="10.1.1.5"))
    assert found == []
    found += detectors.observe(event(t + 200 * 15, ip="185.220.101.4"))
    assert found[0].detector == "credential_abuse" and found[0].ranges == ("185.220.101.0/24",)


def test_state_per_key_stays_under_4_kb() -> None:
    detectors = Detectors(Thresholds())
    rng = random.Random(1)
    for i in range(500):
        detectors.observe(event(1_700_000_000.0 + i, ip=f"10.{i % 30}.1.1", **_extraction(rng, i)))
    assert all(state.size_bytes() <= 4096 for state in detectors.keys.values())
