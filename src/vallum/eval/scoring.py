"""Scores: entity-level precision / recall / F1 / F2 per kind, and label metrics for classifiers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from vallum.detectors.base import Match
from vallum.eval.data import GoldSpan

__all__ = ["LabelCounts", "SpanCounts", "f_beta", "match_spans", "merge_adjacent"]

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


# Entity classes after presidio-research's conventions (``PresidioAnalyzerWrapper.
# presidio_entities_map``: GPE, LOCATION and STREET_ADDRESS are all LOCATION, DATE_OF_BIRTH
# is DATE_TIME; its entity hierarchy puts POSTAL_CODE under ADDRESS). Only kinds whose
# class differs from the kind itself are listed.
_CLASS = {
    "GPE": "LOCATION",
    "LOCATION": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "DATE_OF_BIRTH": "DATE_TIME",
    "DATE": "DATE_TIME",
    "DATE_TIME": "DATE_TIME",
}
_GAP = re.compile(r"[\W_]*")  # whitespace and punctuation only


def _class(kind: str) -> str:
    return _CLASS.get(kind, kind)


def merge_adjacent(gold: list[GoldSpan], text: str, scored: frozenset[str]) -> list[GoldSpan]:
    """Join neighbouring gold spans of one class separated only by whitespace or
    punctuation, as presidio-research's ``SpanEvaluator._merge_adjacent_spans`` does.

    A run that holds a scored kind takes that kind: presidio's synthetic set labels some
    addresses whole and others as fragments ("28245", "Puruntie 82", "Apt. 595", then the
    city as GPE), and a detector that finds the whole address should score the same on both.
    """
    merged: list[GoldSpan] = []
    for span in sorted(gold, key=lambda g: (g.start, g.end)):
        last = merged[-1] if merged else None
        if (
            last is not None
            and _class(last.kind) == _class(span.kind)
            and span.start >= last.end
            and _GAP.fullmatch(text, last.end, span.start) is not None
        ):
            kind = last.kind if last.kind in scored or span.kind not in scored else span.kind
            merged[-1] = GoldSpan(kind, last.start, max(last.end, span.end))
        else:
            merged.append(span)
    return merged


def _merge_predictions(predicted: list[Match], text: str) -> list[Match]:
    """The same joining for predictions of one kind (presidio merges both sides)."""
    merged: list[Match] = []
    for pred in sorted(predicted, key=lambda m: (m.start, m.end)):
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.kind == pred.kind
            and pred.start >= last.end
            and _GAP.fullmatch(text, last.end, pred.start) is not None
        ):
            merged[-1] = replace(last, end=max(last.end, pred.end))
        else:
            merged.append(pred)
    return merged


def match_spans(
    gold: list[GoldSpan], predicted: list[Match], scored: frozenset[str], text: str | None = None
) -> SpanCounts:
    """Greedy one-to-one matching of same-kind spans; gold kinds outside ``scored`` are ignored.

    With ``text``, neighbouring spans are merged first (``merge_adjacent``), and a
    prediction that lands on an unscored gold entity of its own class (a date of birth
    labelled DATE_TIME, an address's city labelled GPE) is not judged either way.
    """
    counts = SpanCounts()
    unscored: list[GoldSpan] = []
    if text is not None:
        gold = merge_adjacent(gold, text, scored)
        predicted = _merge_predictions(predicted, text)
        unscored = [g for g in gold if g.kind not in scored]
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
        if hit is not None:
            used.add(hit)
            counts.tp[pred.kind] += 1
        elif not any(_class(g.kind) == _class(pred.kind) and _overlaps(g, pred) for g in unscored):
            counts.fp[pred.kind] += 1
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
