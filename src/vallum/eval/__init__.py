"""``vallum eval``: run a detector over labelled files and score it (spans or labels)."""

from __future__ import annotations

from vallum.eval.registry import EvalDetector, eval_detectors
from vallum.eval.runner import FileReport, evaluate_files

__all__ = ["EvalDetector", "FileReport", "eval_detectors", "evaluate_files"]
