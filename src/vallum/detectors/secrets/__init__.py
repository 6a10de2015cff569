"""Secret recognizers behind ``SecretDetector``."""

from __future__ import annotations

from vallum.detectors.secrets.detector import SECRET_KINDS, SecretDetector

__all__ = ["SECRET_KINDS", "SecretDetector"]
