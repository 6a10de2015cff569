"""The semantic tier: a fine-tuned transformer (or an operator's ONNX model) per text.

The model has a probability per head: ``user`` (injection or jailbreak in a user turn),
``doc`` (an instruction planted in a document or tool result), ``harm`` (a harmful
request). As a cascade tier, ``score(texts, source)`` answers with the head of the kind it
judges; inference runs in the cascade's bounded ``WorkerPool``, never on the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vallum.detectors.cascade import TierVerdict, WorkerPool
from vallum.detectors.semantic.config import HEADS, Head, OnnxModelConfig, SemanticTierConfig
from vallum.detectors.semantic.runner import OnnxClassifier, RunnerSettings
from vallum.errors import ConfigError
from vallum.pipeline.exchange import Source

__all__ = ["SHIPPED_MODEL", "HeadScores", "SemanticTier", "shipped_model_available"]

SHIPPED_MODEL = "vallum.detectors.semantic.model"
_UNTRUSTED = frozenset({Source.TOOL_RESULT, Source.DOCUMENT})

HeadScores = dict[Head, float]


@dataclass(frozen=True, slots=True)
class _Loaded:
    classifier: OnnxClassifier
    columns: dict[Head, list[int]]  # head -> output columns it reads
    combine_sum: bool  # softmax labels add up; sigmoid labels take the highest
    thresholds: dict[Head, float]
    version: str


def shipped_model_available() -> bool:
    """Whether this build of Vallum ships the fine-tuned model files."""
    folder = resources.files(SHIPPED_MODEL)
    return all(folder.joinpath(n).is_file() for n in ("semantic.onnx", "meta.json"))


class SemanticTier:
    """A cascade tier (``vallum.detectors.cascade.Tier``) over the semantic model."""

    name = "semantic"

    def __init__(self, config: SemanticTierConfig) -> None:
        self.config = config
        loaded = _load_operator(config) if config.model is not None else _load_shipped(config)
        self._loaded = loaded
        self.version = loaded.version
        self.kinds = frozenset({config.judges})
        self.heads: tuple[Head, ...] = tuple(loaded.columns)
        self.thresholds: dict[Head, float] = {**loaded.thresholds, **config.thresholds}
        self.pool = WorkerPool(config.workers, config.queue, name="vallum-semantic")

    def head_for(self, source: Source) -> Head:
        """The head that answers for a text of this source."""
        if self.config.judges == "content":
            return "harm"
        return "doc" if source in _UNTRUSTED else "user"

    def flags(self, scores: HeadScores, head: Head) -> bool:
        threshold = self.thresholds.get(head)
        return threshold is not None and scores.get(head, 0.0) >= threshold

    def score_heads(self, texts: Sequence[str]) -> list[HeadScores]:
        """Every head's probability per text, in the calling thread (eval, benchmarks)."""
        if not texts:
            return []
        raw = self._loaded.classifier.predict(texts)
        return [self._heads(row) for row in raw]

    async def score(self, texts: Sequence[str], source: Source) -> list[TierVerdict]:
        """One verdict per text, computed in the worker pool (never on the event loop).

        A full pool raises at once; the cascade settles that, and its timeout, by the
        tier's ``on_error``.
        """
        if not texts:
            return []
        head = self.head_for(source)
        scores = await self.pool.run(self.score_heads, list(texts))
        return [
            TierVerdict(self.flags(one, head), one.get(head, 0.0), f"semantic_{head}")
            for one in scores
        ]

    async def close(self) -> None:
        self.pool.close()

    def _heads(self, row: npt.NDArray[np.float32]) -> HeadScores:
        loaded = self._loaded
        out: HeadScores = {}
        for head, columns in loaded.columns.items():
            picked = row[columns]
            value = float(picked.sum()) if loaded.combine_sum else float(picked.max())
            out[head] = min(1.0, max(0.0, value))
        return out


def _settings(config: SemanticTierConfig, activation: Any) -> RunnerSettings:
    return RunnerSettings(
        max_length=config.max_length,
        stride=config.stride,
        max_windows=config.max_windows,
        batch_size=config.batch_size,
        threads=config.threads,
        activation=activation,
    )


def _load_operator(config: SemanticTierConfig) -> _Loaded:
    model: OnnxModelConfig | None = config.model
    if model is None:  # pragma: no cover - the caller checked
        raise ConfigError("no operator model configured")
    settings = _settings(config, model.activation)
    classifier = OnnxClassifier(model.path, model.tokenizer, model.labels, settings)
    columns = {head: [model.labels.index(n) for n in names] for head, names in model.heads.items()}
    return _Loaded(classifier, columns, model.activation == "softmax", {}, model.version)


def _load_shipped(config: SemanticTierConfig) -> _Loaded:
    if not shipped_model_available():
        raise ConfigError(
            "this build ships no semantic model: give the semantic tier a `model` (ONNX)",
            param="model",
        )
    folder = resources.files(SHIPPED_MODEL)
    meta = json.loads(folder.joinpath("meta.json").read_text(encoding="utf-8"))
    heads = [h for h in meta["heads"] if h in HEADS]
    with (
        resources.as_file(folder.joinpath("semantic.onnx")) as onnx_path,
        resources.as_file(folder.joinpath("tokenizer.json")) as tokenizer_path,
    ):
        classifier = OnnxClassifier(
            Path(onnx_path), Path(tokenizer_path), meta["heads"], _settings(config, "sigmoid")
        )
    columns: dict[Head, list[int]] = {h: [meta["heads"].index(h)] for h in heads}
    thresholds = {h: float(v) for h, v in meta["thresholds"].items() if h in HEADS}
    return _Loaded(classifier, columns, False, thresholds, str(meta["version"]))
