"""Semantic tier: a fine-tuned transformer or an operator's ONNX classifier, as a cascade tier."""

from vallum.detectors.semantic.config import HEADS, Head, OnnxModelConfig, SemanticTierConfig
from vallum.detectors.semantic.runner import OnnxClassifier, RunnerSettings, SemanticModelError
from vallum.detectors.semantic.tier import HeadScores, SemanticTier, shipped_model_available

__all__ = [
    "HEADS",
    "Head",
    "HeadScores",
    "OnnxClassifier",
    "OnnxModelConfig",
    "RunnerSettings",
    "SemanticModelError",
    "SemanticTier",
    "SemanticTierConfig",
    "shipped_model_available",
]
