"""Detectors ``vallum eval`` can run: the shipped detectors of ``vallum.detectors.builtin``.

A span detector is scored entity by entity on the kinds it claims (``scored``); a label
detector is scored text by text (a text is flagged when the detector has any verdict).
Texts are inspected as user turns, through the same contract the guard layers use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vallum.detectors.base import Match, Source

if TYPE_CHECKING:
    from vallum.eval.loso import LosoTask

__all__ = ["DetectFn", "EvalDetector", "eval_detectors"]

DetectFn = Callable[[str], list[Match]]
_SPAN_DETECTORS = frozenset({"pii", "secrets"})


@dataclass(frozen=True, slots=True)
class EvalDetector:
    name: str
    task: Literal["spans", "label"]
    build: Callable[[], DetectFn]  # built once, before timing starts
    scored: frozenset[str] = frozenset()  # entity kinds scored (span task)
    loso: Callable[[Path], LosoTask] | None = None  # leave-one-source-out over a data folder


def _build(name: str) -> DetectFn:
    from vallum.detectors.builtin import default_detector

    detector = default_detector(name)
    if name in _SPAN_DETECTORS:

        def spans(text: str) -> list[Match]:
            return list(detector.inspect(text, Source.USER).matches)

        return spans

    def label(text: str) -> list[Match]:
        verdicts = detector.inspect(text, Source.USER).verdicts
        return [Match(v.kind, 0, len(text), v.score, v.detector, v.version) for v in verdicts]

    return label


def _content_loso(data: Path) -> LosoTask:
    from vallum.eval.content_loso import ContentLoso

    return ContentLoso(data)


_LOSO: dict[str, Callable[[Path], LosoTask]] = {"content": _content_loso}


def _scored(name: str) -> frozenset[str]:
    if name == "pii":
        from vallum.detectors.pii import PII_KINDS

        return frozenset(PII_KINDS)
    return frozenset({"API_KEY_SECRET"}) if name == "secrets" else frozenset()


def eval_detectors() -> dict[str, EvalDetector]:
    """Every shipped detector by name (built fresh: no global registry)."""
    from vallum.detectors.builtin import DETECTOR_NAMES

    ordered = sorted(DETECTOR_NAMES, key=lambda n: (n not in _SPAN_DETECTORS, n != "pii"))
    return {
        name: EvalDetector(
            name,
            "spans" if name in _SPAN_DETECTORS else "label",
            partial(_build, name),
            _scored(name),
            _LOSO.get(name),
        )
        for name in ordered
    }
