"""Scores: entity-level precision / recall / F1 / F2 per kind, and label metrics for classifiers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from vallum.detectors.base import Match
from vallum.eval.data import GoldSpan

__all__ = ["LabelCounts", "SpanCounts", "f_beta", "match_spans"]

MIN_OVERLAP = 0.5  # a prediction counts when it covers half of the gold span and vice versa


def f_beta(precision: float, recall: float, beta: float) -> float:
    if precision == 0 and recall == 0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall)


def _overlaps(gold: GoldSpan, pred: Match) -> bool:
    inter = min(gold.end, pred.end) - max(gold.start, pred.start)
    if inter <= 0:
        return False
    return inter >= MIN_OVERLAP * (gold.end - gold.start) and inter >= MIN_OVERLAP * (
        pred.end - pred.start
    )


@dataclass(slots=True)
class SpanCounts:
    """True positives, false positives and false negatives per entity kind."""

    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)

    def add(self, other: SpanCounts) -> None:
        self.tp.update(other.tp)
        self.fp.update(other.fp)
        self.fn.update(other.fn)

    def kinds(self) -> list[str]:
        return sorted(set(self.tp) | set(self.fp) | set(self.fn))

    def metrics(self, kinds: Iterable[str] | None = None) -> dict[str, float]:
        selected = list(kinds) if kinds is not None else self.kinds()
        tp = sum(self.tp[k] for k in selected)
        fp = sum(self.fp[k] for k in selected)
        fn = sum(self.fn[k] for k in selected)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        return {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": precision,
            "recall": recall,
            "f1": f_beta(precision, recall, 1.0),
            "f2": f_beta(precision, recall, 2.0),
        }


def match_spans(gold: list[GoldSpan], predicted: list[Match], scored: frozenset[str]) -> SpanCounts:
    """Greedy one-to-one matching of same-kind spans; gold kinds outside ``scored`` are ignored."""
    counts = SpanCounts()
    gold = [g for g in gold if g.kind in scored]
    used: set[int] = set()
    for pred in predicted:
        if pred.kind not in scored:
            continue
        hit = next(
            (
                i
                for i, g in enumerate(gold)
                if i not in used and g.kind == pred.kind and _overlaps(g, pred)
            ),
            None,
        )
        if hit is None:
            counts.fp[pred.kind] += 1
        else:
            used.add(hit)
            counts.tp[pred.kind] += 1
    for i, g in enumerate(gold):
        if i not in used:
            counts.fn[g.kind] += 1
    return counts


@dataclass(slots=True)
class LabelCounts:
    """Confusion counts for a text classifier (label 1 = attack / contains the entity)."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    def add_one(self, label: int, flagged: bool) -> None:
        if label:
            self.tp += flagged
            self.fn += not flagged
        else:
            self.fp += flagged
            self.tn += not flagged

    def add(self, other: LabelCounts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.tn += other.tn
        self.fn += other.fn

    def metrics(self) -> dict[str, float]:
        pos, neg = self.tp + self.fn, self.tn + self.fp
        recall = self.tp / pos if pos else 1.0
        fpr = self.fp / neg if neg else 0.0
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        return {
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            "recall": recall,
            "false_positive_rate": fpr,
            "precision": precision,
            "f1": f_beta(precision, recall, 1.0),
            "balanced_accuracy": (recall + (1 - fpr)) / 2
            if pos and neg
            else (recall if pos else 1 - fpr),
        }
