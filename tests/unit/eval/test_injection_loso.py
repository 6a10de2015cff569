"""Injection leave-one-source-out: fold plans, the worst-domain threshold, the tables."""

from __future__ import annotations

import math

import numpy as np

from vallum.eval.injection_loso import LosoReport, plan_folds, worst_domain_threshold


def test_each_fold_holds_one_attack_source_and_a_third_of_the_domains() -> None:
    domains = [f"d{i}" for i in range(9)]
    folds = plan_folds({"a": ["a.jsonl"], "b": ["b1", "b2"], "c": ["c"], "d": ["d"]}, domains, 7)
    assert [f.name for f in folds] == ["a", "b", "c", "d"]
    assert folds[1].attacks == {"b1", "b2"}
    thirds = [f.benign for f in folds[:3]]
    assert all(len(t) == 3 for t in thirds)
    assert set().union(*thirds) == set(domains)  # every domain is held out somewhere
    assert folds[3].benign == folds[0].benign  # the thirds rotate
    again = plan_folds({"a": ["a.jsonl"]}, reversed(domains), 7)
    assert again[0].benign == folds[0].benign  # seeded, independent of input order


def test_threshold_keeps_the_worst_domain_within_budget_not_the_pooled_rate() -> None:
    quiet = np.linspace(0.0, 0.5, 1000)  # scores up to 0.5
    loud = np.concatenate([np.linspace(0.0, 0.5, 90), np.full(10, 0.9)])  # 10 % at 0.9
    threshold = worst_domain_threshold({"quiet": quiet, "loud": loud}, 0.01)
    for scores in (quiet, loud):
        assert np.mean(scores >= threshold) <= 0.01
    pooled = np.concatenate([quiet, loud])
    assert np.quantile(pooled, 0.99) < 0.9 < threshold  # the pooled 1 % would pass loud


def test_rule_hits_are_spent_first_and_an_empty_budget_allows_no_model_hit() -> None:
    ruled = np.concatenate([np.full(2, math.inf), np.linspace(0, 0.8, 98)])
    threshold = worst_domain_threshold({"ruled": ruled}, 0.01)
    assert threshold > 0.8  # 1 allowed, 2 spent by rules: no model false positive left
    small = np.asarray([0.1, 0.7, 0.3])  # counted as 100 rows: one false positive allowed
    assert 0.3 < worst_domain_threshold({"small": small}, 0.01) <= 0.7
    assert worst_domain_threshold({"small": small}, 0.01, min_rows=3) > 0.7
    assert worst_domain_threshold({}, 0.01) == 0.0


def test_report_tables_per_head() -> None:
    report = LosoReport(0.01)
    rows = [("attacks_x.jsonl", 1, 0.9), ("attacks_x.jsonl", 1, 0.2), ("chat_a.jsonl", 0, 0.95)]
    rows += [("chat_a.jsonl", 0, 0.1)] * 99
    report.add("chat", "x", 0.5, rows)
    report.add("doc", "x", 0.5, [("doc_b.jsonl", 0, 0.1), ("attacks_x.jsonl", 1, 0.7)])
    chat = report.tables("chat", "user head")
    assert "| attacks_x.jsonl | 2 | 50.0% |" in chat
    assert "| chat_a.jsonl | 100 | 1.00% | 1.00% | yes |" in chat
    assert "doc_b" not in chat
    doc = report.tables("doc", "document head")
    assert "| attacks_x.jsonl | 1 | 100.0% |" in doc
    assert "0 of 1 over budget" in doc
