"""Leave-one-source-out evaluation: train without a whole upstream source, then score it.

A task lists its samples (text, label, upstream source, budget domain) and trains a scorer
on any subset of them. Each fold holds out one attack source (or a group of sources that
share their behaviours) and a third of the benign sources; the threshold is chosen on the
training part only, from out-of-fold scores of inner folds, so that the **worst** benign
training source stays within its domain's false-positive budget. The report gives recall
on every held-out attack source and the false-positive rate on every held-out benign source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vallum.errors import ConfigError

__all__ = [
    "Fold",
    "FoldResult",
    "LosoReport",
    "LosoSample",
    "LosoTask",
    "Rate",
    "format_report",
    "inner_threshold",
    "pick_threshold",
    "plan_folds",
    "run_loso",
]

Scorer = Callable[[np.ndarray], np.ndarray]  # sample indices -> decision scores


@dataclass(frozen=True, slots=True)
class LosoSample:
    """One labelled text. ``domain`` names the budget a benign source is held to;
    ``group`` joins attack sources held out together (rewordings of one set);
    ``held`` is False for training-only rows (synthetic or weakly labelled)."""

    text: str
    label: int
    source: str
    domain: str = ""
    group: str = ""
    held: bool = True
    weight: float = 1.0


class LosoTask(Protocol):
    """What the runner needs from a detector: its samples and a trainer."""

    name: str
    budgets: Mapping[str, float]  # benign domain -> false-positive budget used to pick
    targets: Mapping[str, float]  # benign domain -> false-positive target reported against

    def samples(self) -> Sequence[LosoSample]: ...

    def fit(self, rows: np.ndarray) -> Scorer:
        """Train on the samples at ``rows``; return a scorer of samples by index."""
        ...


@dataclass(frozen=True, slots=True)
class Fold:
    name: str
    attacks: tuple[str, ...]  # attack sources held out
    benign: tuple[str, ...]  # benign sources held out


@dataclass(frozen=True, slots=True)
class Rate:
    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else 0.0


@dataclass(slots=True)
class FoldResult:
    fold: Fold
    threshold: float
    recall: dict[str, Rate] = field(default_factory=dict)  # held-out attack source -> recall
    fpr: dict[str, Rate] = field(default_factory=dict)  # held-out benign source -> FPR


@dataclass(slots=True)
class LosoReport:
    task: str
    targets: Mapping[str, float]
    domains: dict[str, str]  # benign source -> domain
    folds: list[FoldResult] = field(default_factory=list)

    def recall(self) -> dict[str, Rate]:
        """Recall per attack source, from the fold that held it out."""
        return {src: rate for result in self.folds for src, rate in result.recall.items()}

    def worst_fpr(self) -> dict[str, Rate]:
        """Per benign source, its highest FPR over the folds that held it out."""
        out: dict[str, Rate] = {}
        for result in self.folds:
            for source, rate in result.fpr.items():
                if source not in out or rate.value > out[source].value:
                    out[source] = rate
        return out


def _by_source(samples: Sequence[LosoSample], label: int) -> dict[str, list[LosoSample]]:
    out: dict[str, list[LosoSample]] = {}
    for sample in samples:
        if sample.held and sample.label == label:
            out.setdefault(sample.source, []).append(sample)
    return out


def _thirds(benign: Mapping[str, Sequence[LosoSample]], parts: int) -> list[list[str]]:
    """Benign sources in ``parts`` groups, each domain spread evenly over the groups."""
    groups: list[list[str]] = [[] for _ in range(parts)]
    ordered = sorted(benign, key=lambda name: (benign[name][0].domain, name))
    for number, name in enumerate(ordered):
        groups[number % parts].append(name)
    return groups


def plan_folds(samples: Sequence[LosoSample], benign_parts: int = 3) -> list[Fold]:
    """One fold per attack group; fold ``i`` also holds out benign third ``i mod 3``."""
    attacks = _by_source(samples, 1)
    if not attacks:
        raise ConfigError("leave-one-source-out needs at least one held attack source")
    grouped: dict[str, list[str]] = {}
    for source, rows in sorted(attacks.items()):
        grouped.setdefault(rows[0].group or source, []).append(source)
    thirds = _thirds(_by_source(samples, 0), benign_parts)
    return [
        Fold(name, tuple(sources), tuple(thirds[number % benign_parts]))
        for number, (name, sources) in enumerate(sorted(grouped.items()))
    ]


def pick_threshold(
    scores: np.ndarray,
    samples: Sequence[LosoSample],
    rows: np.ndarray,
    budgets: Mapping[str, float],
) -> float:
    """The lowest threshold at which every benign source in ``rows`` stays within its budget.

    ``scores[k]`` belongs to ``samples[rows[k]]``; a text is flagged at ``score >= threshold``.
    Sources whose domain has no budget do not constrain the threshold.
    """
    by_source: dict[str, list[float]] = {}
    domain: dict[str, str] = {}
    for score, row in zip(scores.tolist(), rows.tolist(), strict=True):
        sample = samples[row]
        if sample.label == 0 and sample.held and sample.domain in budgets:
            by_source.setdefault(sample.source, []).append(score)
            domain[sample.source] = sample.domain
    threshold = -math.inf
    for source, values in by_source.items():
        allowed = math.floor(budgets[domain[source]] * len(values))
        if allowed >= len(values):
            continue
        ordered = sorted(values, reverse=True)
        threshold = max(threshold, math.nextafter(ordered[allowed], math.inf))
    return threshold


def inner_threshold(
    task: LosoTask, samples: Sequence[LosoSample], train: np.ndarray, parts: int
) -> float:
    """The threshold for a model trained on ``train``, from its rows alone: out-of-fold
    scores of ``parts`` inner folds (attack groups and benign sources split as the outer
    folds are), so that the worst benign source stays within its budget."""
    inner = [samples[row] for row in train.tolist()]
    folds = plan_folds(inner, parts)
    attack_parts = [[f for n, f in enumerate(folds) if n % parts == k] for k in range(parts)]
    benign_parts = _thirds(_by_source(inner, 0), parts)
    scored_rows: list[np.ndarray] = []
    scored: list[np.ndarray] = []
    for k in range(parts):
        held = {src for fold in attack_parts[k] for src in fold.attacks} | set(benign_parts[k])
        mask = np.asarray([s.held and s.source in held for s in inner], dtype=bool)
        if not mask.any():
            continue
        scorer = task.fit(train[~mask])
        scored_rows.append(train[mask])
        scored.append(scorer(train[mask]))
    rows = np.concatenate(scored_rows)
    return pick_threshold(np.concatenate(scored), samples, rows, task.budgets)


def run_loso(
    task: LosoTask,
    folds: Sequence[Fold] | None = None,
    inner_parts: int = 3,
    progress: Callable[[str], None] | None = None,
) -> LosoReport:
    """Every fold: train without its sources, pick the threshold inside, score what was held."""
    samples = task.samples()
    folds = list(folds) if folds is not None else plan_folds(samples)
    domains = {s.source: s.domain for s in samples if s.label == 0 and s.held}
    report = LosoReport(task.name, task.targets, domains)
    sources = np.asarray([s.source for s in samples])
    held_rows = np.asarray([s.held for s in samples], dtype=bool)
    for fold in folds:
        if progress is not None:
            progress(fold.name)
        out = held_rows & np.isin(sources, [*fold.attacks, *fold.benign])
        train = np.flatnonzero(~out)
        threshold = inner_threshold(task, samples, train, inner_parts)
        scorer = task.fit(train)
        rows = np.flatnonzero(out)
        flagged = scorer(rows) >= threshold
        result = FoldResult(fold, threshold)
        for name in (*fold.attacks, *fold.benign):
            hits = flagged[sources[rows] == name]
            rate = Rate(int(hits.sum()), len(hits))
            (result.recall if name in fold.attacks else result.fpr)[name] = rate
        report.folds.append(result)
    return report


def format_report(report: LosoReport) -> str:
    """Markdown tables: recall per held-out attack source, FPR per benign source and domain."""
    lines = [
        f"### {report.task}: recall on each held-out attack source",
        "",
        "| held-out source | fold | n | recall | threshold |",
        "|---|---|---:|---:|---:|",
    ]
    for result in report.folds:
        for source, rate in result.recall.items():
            lines.append(
                f"| {source} | {result.fold.name} | {rate.total} | {rate.value:.1%} "
                f"| {result.threshold:.3f} |"
            )
    rates = report.recall().values()
    pooled = Rate(sum(r.hits for r in rates), sum(r.total for r in rates))
    lines += [f"| **pooled** | | {pooled.total} | {pooled.value:.1%} | |", ""]
    worst = report.worst_fpr()
    lines += [
        f"### {report.task}: false-positive rate on each held-out benign source (worst fold)",
        "",
        "| benign source | domain | n | FPR | target |",
        "|---|---|---:|---:|---:|",
    ]
    for source in sorted(worst, key=lambda name: (report.domains[name], name)):
        rate, domain = worst[source], report.domains[source]
        target = report.targets.get(domain)
        shown = f"{target:.1%}" if target is not None else "-"
        lines.append(f"| {source} | {domain} | {rate.total} | {rate.value:.2%} | {shown} |")
    lines.append("")
    return "\n".join(lines)
