"""The leave-one-source-out runner: fold plan, thresholds from training rows only, report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from vallum.errors import ConfigError
from vallum.eval.loso import (
    LosoSample,
    format_report,
    pick_threshold,
    plan_folds,
    run_loso,
)


def _benign(source: str, domain: str, scores: Sequence[float]) -> list[LosoSample]:
    return [LosoSample(f"{s}", 0, source, domain=domain) for s in scores]


def test_threshold_keeps_the_worst_source_within_budget() -> None:
    # a: 100 texts, 10 may be flagged; b: 10 texts, 1 may be flagged
    samples = _benign("a", "chat", [float(n) for n in range(100)])
    samples += _benign("b", "chat", [95.5, 94.5, *([0.0] * 8)])
    rows = np.arange(len(samples))
    scores = np.asarray([float(s.text) for s in samples])
    threshold = pick_threshold(scores, samples, rows, {"chat": 0.1})
    # b decides (a pooled 10 % would flag b's top two: 20 % of b)
    assert 94.5 < threshold < 95.0
    assert np.sum(scores[:100] >= threshold) == 5  # 95..99: a is well within its budget
    assert pick_threshold(scores, samples, rows, {"chat": 1.0}) == -np.inf


def test_sources_without_a_budget_do_not_pick() -> None:
    samples = _benign("a", "chat", [1.0, 2.0]) + _benign("c", "contested", [9.0, 9.0])
    scores = np.asarray([float(s.text) for s in samples])
    threshold = pick_threshold(scores, samples, np.arange(4), {"chat": 0.0})
    assert 2.0 < threshold < 3.0


def test_folds_hold_one_attack_group_and_a_third_of_benign_sources() -> None:
    samples = [
        LosoSample("x", 1, "advbench"),
        LosoSample("x", 1, "tense", group="jbb"),
        LosoSample("x", 1, "jbb_harmful", group="jbb"),
        LosoSample("x", 1, "synthetic", held=False),
        *(LosoSample("x", 0, f"chat{n}", domain="chat") for n in range(6)),
    ]
    folds = plan_folds(samples)
    assert [(f.name, f.attacks) for f in folds] == [
        ("advbench", ("advbench",)),
        ("jbb", ("jbb_harmful", "tense")),
    ]
    assert [len(f.benign) for f in folds] == [2, 2]
    assert not set(folds[0].benign) & set(folds[1].benign)
    with pytest.raises(ConfigError):
        plan_folds(samples[3:])


@dataclass
class _Memorizer:
    """Scores a text by whether its exact text was in the training rows: the shape of a
    detector that only memorises, which leave-one-source-out must expose."""

    rows: list[LosoSample]
    name: str = "memorizer"
    budgets: Mapping[str, float] = field(default_factory=lambda: {"chat": 0.0})
    targets: Mapping[str, float] = field(default_factory=lambda: {"chat": 0.01})
    fits: list[set[str]] = field(default_factory=list)

    def samples(self) -> Sequence[LosoSample]:
        return self.rows

    def fit(self, rows: np.ndarray):  # type: ignore[no-untyped-def]
        seen = {self.rows[r].text for r in rows.tolist() if self.rows[r].label == 1}
        self.fits.append({self.rows[r].source for r in rows.tolist()})

        def score(which: np.ndarray) -> np.ndarray:
            return np.asarray([float(self.rows[r].text in seen) for r in which.tolist()])

        return score


def test_a_memorizer_scores_nothing_on_held_out_sources() -> None:
    rows = [LosoSample(f"attack {n}", 1, f"src{n % 3}") for n in range(30)]
    rows += [LosoSample(f"benign {n}", 0, f"chat{n % 3}", domain="chat") for n in range(30)]
    rows += [LosoSample("attack 0", 1, "synthetic", held=False)]  # a training-only copy
    task = _Memorizer(rows)
    report = run_loso(task)
    recall = report.recall()
    assert set(recall) == {"src0", "src1", "src2"}
    # only the text with a training-only copy is caught: nothing else was memorised
    assert recall["src0"].hits == 1 and recall["src1"].hits == recall["src2"].hits == 0
    assert all(rate.hits == 0 for rate in report.worst_fpr().values())
    table = format_report(report)
    assert "| src0 | src0 | 10 | 10.0% |" in table
    assert "| chat0 | chat | 10 | 0.00% | 1.0% |" in table


def test_no_fit_sees_its_held_out_sources() -> None:
    rows = [LosoSample(f"attack {n}", 1, f"src{n % 3}") for n in range(30)]
    rows += [LosoSample(f"benign {n}", 0, f"chat{n % 6}", domain="chat") for n in range(60)]
    task = _Memorizer(rows)
    report = run_loso(task)
    per_fold = 4  # three inner fits and the fold's own fit, in that order
    for number, result in enumerate(report.folds):
        held = {*result.fold.attacks, *result.fold.benign}
        fits = task.fits[number * per_fold : (number + 1) * per_fold]
        assert len(fits) == per_fold and all(not held & fitted for fitted in fits)
