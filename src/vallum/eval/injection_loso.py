"""Injection leave-one-source-out: fold plans, worst-domain thresholds and per-head tables.

A fold holds out one upstream attack source *and* a third of the benign sources
(domains); a model is trained on the rest, its threshold is chosen on training data only,
and it is scored on the held-out texts. The threshold keeps the **worst** benign domain
within the false-positive budget, not the pooled rate: a guard that refuses one user
population in ten is not rescued by the others. Used by ``scripts/train_injection.py``;
numpy only, so the protocol is tested without the training extra.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Fold", "LosoReport", "plan_folds", "worst_domain_threshold"]


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold: the attack sources and benign domains it holds out."""

    name: str
    attacks: frozenset[str]
    benign: frozenset[str]

    @property
    def held(self) -> frozenset[str]:
        return self.attacks | self.benign


def plan_folds(
    attack_folds: Mapping[str, Iterable[str]], benign: Iterable[str], seed: int, parts: int = 3
) -> list[Fold]:
    """One fold per entry of ``attack_folds``; fold ``i`` also holds out benign part ``i % parts``
    of a seeded shuffle of the benign domains (so each domain is held out in about a third
    of the folds)."""
    domains = sorted(set(benign))
    random.Random(seed).shuffle(domains)  # noqa: S311 - a reproducible split, not security
    thirds = [frozenset(domains[i::parts]) for i in range(parts)]
    return [
        Fold(name, frozenset(sources), thirds[number % parts])
        for number, (name, sources) in enumerate(attack_folds.items())
    ]


def worst_domain_threshold(
    benign: Mapping[str, Sequence[float] | np.ndarray],
    budget: float,
    cap: float = 0.999999,
    min_rows: int = 100,
) -> float:
    """The lowest threshold at which every domain's false-positive rate is ≤ ``budget``.

    A score of ``inf`` is a rule hit: flagged at any threshold, so it is spent from its
    domain's budget first. A domain whose rule hits alone exceed the budget cannot be
    brought within it by the threshold; it then allows no model false positive. A domain
    of fewer than ``min_rows`` texts is allowed as many false positives as one of
    ``min_rows`` (one at 1 %): its rate cannot be measured finer than that.
    """
    needed = 0.0
    for scores in benign.values():
        values = np.asarray(scores, dtype=np.float64)
        if not len(values):
            continue
        finite = np.sort(values[np.isfinite(values)])[::-1]
        quota = math.floor(budget * max(len(values), min_rows) + 1e-9)
        allowed = max(0, quota - (len(values) - len(finite)))
        if allowed < len(finite):  # flag at most ``allowed``: above the next-highest score
            needed = max(needed, float(finite[allowed]) + 1e-6)
    return min(cap, needed)


@dataclass
class _Rate:
    hits: int = 0
    total: int = 0
    worst: float = 0.0  # the highest rate of any one fold

    def add(self, hits: int, total: int) -> None:
        self.hits += hits
        self.total += total
        self.worst = max(self.worst, hits / total if total else 0.0)

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0


@dataclass
class LosoReport:
    """Recall per held-out attack source and FPR per held-out benign domain, per head."""

    budget: float
    recall: dict[tuple[str, str], _Rate] = field(default_factory=dict)
    fpr: dict[tuple[str, str], _Rate] = field(default_factory=dict)
    thresholds: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(
        self, head: str, fold: str, threshold: float, rows: Iterable[tuple[str, int, float]]
    ) -> None:
        """Score one fold of one head: ``rows`` are (domain, label, score)."""
        self.thresholds[(head, fold)] = threshold
        counts: dict[tuple[int, str], list[int]] = {}
        for domain, label, score in rows:
            entry = counts.setdefault((label, domain), [0, 0])
            entry[0] += score >= threshold
            entry[1] += 1
        for (label, domain), (hits, total) in counts.items():
            table = self.recall if label else self.fpr
            table.setdefault((head, domain), _Rate()).add(hits, total)

    def tables(self, head: str, title: str) -> str:
        """Markdown: recall per attack source, then FPR per benign domain, of one head."""
        lines = [f"### {title}", ""]
        lines += ["| held-out attack source | texts | recall |", "|---|---|---|"]
        for (name, domain), rate in sorted(self.recall.items()):
            if name == head:
                lines.append(f"| {domain} | {rate.total} | {rate.rate:.1%} |")
        pooled = _pool(r for (name, _), r in self.recall.items() if name == head)
        lines += [f"| **pooled** | {pooled.total} | **{pooled.rate:.1%}** |", ""]
        lines += [
            f"| held-out benign domain | texts | FPR | worst fold | ≤ {self.budget:.0%} |",
            "|---|---|---|---|---|",
        ]
        rates = {d: r for (name, d), r in self.fpr.items() if name == head}
        for domain, rate in sorted(rates.items(), key=lambda item: -item[1].rate):
            ok = "yes" if rate.rate <= self.budget else "**no**"
            lines.append(f"| {domain} | {rate.total} | {rate.rate:.2%} | {rate.worst:.2%} | {ok} |")
        worst = max((r.rate for r in rates.values()), default=0.0)
        over = sum(r.rate > self.budget for r in rates.values())
        lines += ["", f"Worst benign domain {worst:.2%}; {over} of {len(rates)} over budget."]
        chosen = [t for (name, _), t in self.thresholds.items() if name == head]
        if chosen:
            lines.append(f"Thresholds chosen per fold: {min(chosen):.3f} to {max(chosen):.3f}.")
        return "\n".join(lines) + "\n"


def _pool(rates: Iterable[_Rate]) -> _Rate:
    pooled = _Rate()
    for rate in rates:
        pooled.hits += rate.hits
        pooled.total += rate.total
    return pooled
