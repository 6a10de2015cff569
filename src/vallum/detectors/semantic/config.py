"""Config of the semantic tier (``type: semantic`` in a cascade): model, head, runner."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vallum.detectors.cascade import TierSettings

if TYPE_CHECKING:
    from vallum.detectors.semantic.tier import SemanticTier

__all__ = ["HEADS", "Head", "OnnxModelConfig", "SemanticTierConfig"]

Head = Literal["user", "doc", "harm"]
HEADS: tuple[Head, ...] = ("user", "doc", "harm")


class OnnxModelConfig(BaseModel):
    """An operator-supplied ONNX sequence classifier (Prompt Guard 2, PIGuard, ...).

    The model takes ``input_ids`` (and ``attention_mask`` / ``token_type_ids`` where it
    declares them) and returns one row of logits per text, in the order of ``labels``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="The ONNX model file (`model.onnx`).")
    tokenizer: Path = Field(description="Its Hugging Face `tokenizer.json`.")
    labels: list[str] = Field(
        min_length=1,
        max_length=64,
        description="Name of each output, in the model's order (its `id2label`).",
    )
    heads: dict[Head, list[str]] = Field(
        min_length=1,
        description="Which labels count as each head: `user` (injection in a user turn), "
        "`doc` (injection in a document or tool result), `harm` (harmful request). With "
        "softmax the head's score is the sum of its labels' probabilities, else the highest.",
    )
    activation: Literal["sigmoid", "softmax", "none"] = Field(
        "softmax", description="What turns the logits into probabilities."
    )
    version: str = Field(
        "operator", min_length=1, max_length=64, description="Named in findings and audit."
    )

    @model_validator(mode="after")
    def _known_labels(self) -> OnnxModelConfig:
        for head, names in self.heads.items():
            unknown = sorted(set(names) - set(self.labels))
            if not names or unknown:
                raise ValueError(f"heads.{head} names labels the model lacks: {unknown}")
        return self


class SemanticTierConfig(TierSettings):
    """A transformer classifier as a cascade tier: the shipped model or an operator's."""

    type: Literal["semantic"] = "semantic"
    judges: Literal["injection", "content"] = Field(
        "injection",
        description="The detector kind this tier answers for: `injection` reads the `user` "
        "head for user turns and the `doc` head for documents and tool results; `content` "
        "reads the `harm` head. List it under the cascade of that kind.",
    )
    model: OnnxModelConfig | None = Field(
        None, description="An operator-supplied model instead of the shipped one."
    )
    thresholds: dict[Head, float] = Field(
        default_factory=dict,
        description="Score at or above which a head flags (default: the shipped model's "
        "thresholds, chosen so the worst benign training domain stays within budget).",
    )
    workers: int = Field(1, ge=1, le=32, description="Inference threads in the pool.")
    queue: int = Field(
        16, ge=0, le=10_000, description="Calls that may wait for a worker; more are refused."
    )
    threads: int = Field(1, ge=1, le=64, description="Threads one inference may use.")
    max_length: int = Field(128, ge=8, le=4096, description="Tokens per window.")
    stride: int = Field(32, ge=0, le=1024, description="Tokens two windows share.")
    max_windows: int = Field(4, ge=1, le=256, description="Windows read per text.")
    batch_size: int = Field(16, ge=1, le=512, description="Windows per inference.")

    @model_validator(mode="after")
    def _check(self) -> SemanticTierConfig:
        if self.stride >= self.max_length // 2:
            raise ValueError("stride must be below half of max_length")
        for head, value in self.thresholds.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"thresholds.{head} must be within [0, 1]")
        return self

    def build(self) -> SemanticTier:
        """The tier this config describes (loads the model now: start-up)."""
        from vallum.detectors.semantic.tier import SemanticTier

        return SemanticTier(self)
