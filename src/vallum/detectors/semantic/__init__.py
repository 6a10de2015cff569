"""Semantic tier: a fine-tuned transformer or an operator's ONNX classifier, off the event loop."""

from vallum.detectors.semantic.config import HEADS, Head, OnnxModelConfig, SemanticConfig
from vallum.detectors.semantic.pool import InferencePool
from vallum.detectors.semantic.runner import OnnxClassifier, RunnerSettings, SemanticModelError
from vallum.detectors.semantic.tier import HeadScores, SemanticTier, shipped_model_available

__all__ = [
    "HEADS",
    "Head",
    "HeadScores",
    "InferencePool",
    "OnnxClassifier",
    "OnnxModelConfig",
    "RunnerSettings",
    "SemanticConfig",
    "SemanticModelError",
    "SemanticTier",
    "shipped_model_available",
]
