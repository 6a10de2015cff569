"""A small Prometheus registry owned by one Gateway: counters, gauges, histograms, text format.

Each metric caps its label sets (``max_series``); past the cap new label sets are
counted under ``other`` so a flood of distinct values cannot exhaust memory.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["Counter", "Gauge", "Histogram", "Registry"]

Labels = tuple[str, ...]
OVERFLOW = "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str], max_series: int) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labels)
        self.max_series = max_series

    def _key(self, values: Labels, store: Mapping[Labels, object]) -> Labels:
        if values in store or len(store) < self.max_series:
            return values
        return tuple(OVERFLOW for _ in values)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str], max_series: int) -> None:
        super().__init__(name, help_text, labels, max_series)
        self.values: dict[Labels, float] = {}

    def inc(self, values: Labels = (), amount: float = 1.0) -> None:
        key = self._key(values, self.values)
        self.values[key] = self.values.get(key, 0.0) + amount

    def lines(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.labelnames, k)} {_number(v)}"
            for k, v in sorted(self.values.items())
        ]


class Gauge(_Metric):
    """A gauge read at render time from a callback returning (labels, value) pairs."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str],
        read: Callable[[], Iterable[tuple[Labels, float]]],
    ) -> None:
        super().__init__(name, help_text, labels, 1_000)
        self.read = read

    def lines(self) -> list[str]:
        return [f"{self.name}{_labels(self.labelnames, k)} {_number(v)}" for k, v in self.read()]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str],
        max_series: int,
        buckets: Sequence[float],
    ) -> None:
        super().__init__(name, help_text, labels, max_series)
        self.buckets = tuple(sorted(buckets))
        self.series: dict[Labels, list[float]] = {}  # bucket counts..., then sum, then count

    def observe(self, values: Labels, amount: float) -> None:
        key = self._key(values, self.series)
        row = self.series.get(key)
        if row is None:
            row = self.series[key] = [0.0] * (len(self.buckets) + 2)
        index = bisect_left(self.buckets, amount)
        if index < len(self.buckets):
            row[index] += 1
        row[-2] += amount
        row[-1] += 1

    def lines(self) -> list[str]:
        out: list[str] = []
        for key, row in sorted(self.series.items()):
            running = 0.0
            for bound, count in zip(self.buckets, row, strict=False):
                running += count
                le = f'le="{_number(bound)}"'
                out.append(
                    f"{self.name}_bucket{_labels(self.labelnames, key, le)} {_number(running)}"
                )
            inf = _labels(self.labelnames, key, 'le="+Inf"')
            out.append(f"{self.name}_bucket{inf} {_number(row[-1])}")
            out.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_number(row[-2])}")
            out.append(f"{self.name}_count{_labels(self.labelnames, key)} {_number(row[-1])}")
        return out


class Registry:
    """The metrics of one gateway, rendered in the Prometheus text format (0.0.4)."""

    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def counter(
        self, name: str, help_text: str, labels: Sequence[str] = (), max_series: int = 2000
    ) -> Counter:
        metric = Counter(name, help_text, labels, max_series)
        self.metrics.append(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str],
        buckets: Sequence[float],
        max_series: int = 500,
    ) -> Histogram:
        metric = Histogram(name, help_text, labels, max_series, buckets)
        self.metrics.append(metric)
        return metric

    def gauge(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str],
        read: Callable[[], Iterable[tuple[Labels, float]]],
    ) -> Gauge:
        metric = Gauge(name, help_text, labels, read)
        self.metrics.append(metric)
        return metric

    def render(self) -> bytes:
        lines: list[str] = []
        for metric in self.metrics:
            lines.extend(metric.header())
            lines.extend(metric.lines())
        return ("\n".join(lines) + "\n").encode()
