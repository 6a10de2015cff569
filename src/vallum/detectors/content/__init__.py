"""Content policy on requests: harmful-request categories, aware of safe look-alikes."""

from vallum.detectors.content.detector import (
    ContentConfig,
    ContentDetector,
    ContentResult,
    eval_detect,
)

__all__ = ["ContentConfig", "ContentDetector", "ContentResult", "eval_detect"]
