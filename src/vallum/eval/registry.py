"""Detectors ``vallum eval`` can run — one line each in ``eval_detectors``.

A span detector is scored entity by entity on the kinds it claims (``scored``); a label
detector is scored text by text (a text is flagged when the detector returns any match).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vallum.detectors.base import Match

if TYPE_CHECKING:
    from vallum.eval.loso import LosoTask

__all__ = ["DetectFn", "EvalDetector", "eval_detectors"]

DetectFn = Callable[[str], list[Match]]


@dataclass(frozen=True, slots=True)
class EvalDetector:
    name: str
    task: Literal["spans", "label"]
    build: Callable[[], DetectFn]  # built once, before timing starts
    scored: frozenset[str] = frozenset()  # entity kinds scored (span task)
    loso: Callable[[Path], LosoTask] | None = None  # leave-one-source-out over a data folder


def _pii() -> DetectFn:
    from vallum.detectors.pii import PiiDetector

    return PiiDetector().detect


def _secrets() -> DetectFn:
    from vallum.detectors.secrets import SecretDetector

    return SecretDetector().detect


def _injection() -> DetectFn:
    from vallum.detectors.injection import eval_detect

    return eval_detect()


def _content() -> DetectFn:
    from vallum.detectors.content import eval_detect

    return eval_detect()


def _content_loso(data: Path) -> LosoTask:
    from vallum.eval.content_loso import ContentLoso

    return ContentLoso(data)


def _pii_kinds() -> frozenset[str]:
    from vallum.detectors.pii import PII_KINDS

    return frozenset(PII_KINDS)


def eval_detectors() -> dict[str, EvalDetector]:
    """Every detector by name (built fresh: no global registry). Add yours with one line."""
    detectors = [
        EvalDetector("pii", "spans", _pii, _pii_kinds()),
        EvalDetector("secrets", "spans", _secrets, frozenset({"API_KEY_SECRET"})),
        EvalDetector("injection", "label", _injection),
        EvalDetector("content", "label", _content, loso=_content_loso),
    ]
    return {d.name: d for d in detectors}
