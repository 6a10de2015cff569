"""Prompt-injection and jailbreak detection: fast rules, then a shipped n-gram model."""

from vallum.detectors.injection.detector import (
    InjectionConfig,
    InjectionDetector,
    InjectionResult,
    Trust,
    eval_detect,
)

__all__ = ["InjectionConfig", "InjectionDetector", "InjectionResult", "Trust", "eval_detect"]
