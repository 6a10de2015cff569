"""PII recognizers (one module per family) behind ``PiiDetector``."""

from __future__ import annotations

from vallum.detectors.pii.detector import PII_KINDS, PiiConfig, PiiDetector

__all__ = ["PII_KINDS", "PiiConfig", "PiiDetector"]
