"""Run one detector over files: per-file and pooled scores plus per-text latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vallum.eval.data import load_examples
from vallum.eval.registry import EvalDetector
from vallum.eval.scoring import LabelCounts, SpanCounts, match_spans

__all__ = ["FileReport", "evaluate_files", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass(slots=True)
class FileReport:
    name: str
    texts: int = 0
    spans: SpanCounts = field(default_factory=SpanCounts)
    labels: LabelCounts = field(default_factory=LabelCounts)
    latencies: list[float] = field(default_factory=list)
    chars: int = 0

    def add(self, other: FileReport) -> None:
        self.texts += other.texts
        self.spans.add(other.spans)
        self.labels.add(other.labels)
        self.latencies += other.latencies
        self.chars += other.chars

    def summary(self, detector: EvalDetector) -> dict[str, Any]:
        seconds = sum(self.latencies)
        out: dict[str, Any] = {
            "file": self.name,
            "texts": self.texts,
            "latency_ms_p50": percentile(self.latencies, 50) * 1000,
            "latency_ms_p99": percentile(self.latencies, 99) * 1000,
            "mb_per_s": self.chars / seconds / 1e6 if seconds else 0.0,
        }
        if detector.task == "spans":
            kinds = [k for k in self.spans.kinds() if k in detector.scored]
            out["pooled"] = self.spans.metrics(kinds)
            out["per_kind"] = {k: self.spans.metrics([k]) for k in kinds}
        else:
            out["labels"] = self.labels.metrics()
        return out


def evaluate_files(
    detector: EvalDetector,
    paths: Sequence[Path],
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[FileReport], FileReport]:
    """Score ``detector`` on each file; returns the per-file reports and the pooled one."""
    detect = detector.build()
    reports: list[FileReport] = []
    pooled = FileReport("pooled")
    for path in paths:
        report = FileReport(path.name)
        examples = load_examples(path)
        for index, example in enumerate(examples):
            started = clock()
            found = detect(example.text)
            report.latencies.append(clock() - started)
            report.texts += 1
            report.chars += len(example.text)
            if detector.task == "spans":
                report.spans.add(match_spans(example.spans, found, detector.scored, example.text))
            else:
                report.labels.add_one(example.label, bool(found))
            if progress is not None:
                progress(index + 1, len(examples))
        reports.append(report)
        pooled.add(report)
    return reports, pooled
