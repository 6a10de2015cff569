"""Runs an ONNX text classifier on CPU: a ``tokenizer.json``, windows of tokens, batched.

The same runner serves the shipped fine-tuned model and an operator-supplied one (Prompt
Guard 2, PIGuard, ... exported to ONNX): a text longer than one window is read as overlapping
windows and each label takes its highest probability over them. ``onnxruntime`` and
``tokenizers`` are imported here only, when a model is loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from vallum.errors import ConfigError, DependencyMissingError, VallumError

__all__ = ["Activation", "OnnxClassifier", "RunnerSettings", "SemanticModelError"]

Activation = Literal["sigmoid", "softmax", "none"]
_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids"})


class SemanticModelError(VallumError):
    """A classifier model could not be run (bad output, runtime failure, overload, timeout)."""

    default_code = "detector_unavailable"
    status = 502


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """How texts are cut and batched, and how many threads one inference may use."""

    max_length: int = 128
    stride: int = 32  # tokens shared by two neighbouring windows
    max_windows: int = 4  # per text: past that the rest of a long text is not read
    batch_size: int = 16
    threads: int = 1
    activation: Activation = "sigmoid"


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise DependencyMissingError(
            f"the semantic tier needs {name}: pip install 'vallum[semantic]'",
            context={"module": name},
        ) from exc


class OnnxClassifier:
    """One ONNX sequence classifier and its tokenizer; thread-safe, built once."""

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        labels: Sequence[str],
        settings: RunnerSettings,
    ) -> None:
        ort = _import("onnxruntime")
        tokenizers = _import("tokenizers")
        self.labels = tuple(labels)
        self.settings = settings
        for path in (model_path, tokenizer_path):
            if not path.is_file():
                raise ConfigError(f"semantic model file not found: {path.name}", param=str(path))
        try:
            self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
            options = ort.SessionOptions()
            options.intra_op_num_threads = settings.threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            self.session = ort.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # the libraries raise their own exception types
            raise ConfigError(
                f"cannot load the semantic model {model_path.name}: {type(exc).__name__}",
                param=str(model_path),
            ) from exc
        self.tokenizer.no_padding()
        try:
            self.tokenizer.enable_truncation(settings.max_length, stride=settings.stride)
        except ValueError as exc:  # stride too long for the window, after special tokens
            raise ConfigError(
                f"stride {settings.stride} does not fit windows of {settings.max_length} tokens",
                param="stride",
            ) from exc
        self._pad_id = _pad_id(self.tokenizer)
        self._input_names = [item.name for item in self.session.get_inputs()]
        unknown = set(self._input_names) - _INPUTS
        if unknown or "input_ids" not in self._input_names:
            raise ConfigError(
                "semantic model inputs must be input_ids, attention_mask, token_type_ids; "
                f"got {sorted(self._input_names)}",
                param=str(model_path),
            )
        width = self.session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(self.labels):
            raise ConfigError(
                f"semantic model has {width} outputs but {len(self.labels)} labels are named",
                param=str(model_path),
            )

    def predict(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Per text, per label: the highest probability over the text's windows."""
        owners: list[int] = []
        windows: list[list[int]] = []
        for number, encoding in enumerate(self.tokenizer.encode_batch(list(texts))):
            pieces = [encoding, *encoding.overflowing][: self.settings.max_windows]
            for piece in pieces:
                owners.append(number)
                windows.append(list(piece.ids))
        scores = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not windows:
            return scores
        probabilities = self._run_windows(windows)
        np.maximum.at(scores, np.asarray(owners), probabilities)
        return scores

    def _run_windows(self, windows: list[list[int]]) -> npt.NDArray[np.float32]:
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        out = np.zeros((len(windows), len(self.labels)), dtype=np.float32)
        size = self.settings.batch_size
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            out[batch] = self._run_batch([windows[i] for i in batch])
        return out

    def _run_batch(self, batch: list[list[int]]) -> npt.NDArray[np.float32]:
        width = max(len(ids) for ids in batch)
        ids = np.full((len(batch), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        try:
            raw = self.session.run(None, {name: feeds[name] for name in self._input_names})[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SemanticModelError(
                "the semantic model failed", context={"error": type(exc).__name__}
            ) from exc
        logits = np.asarray(raw, dtype=np.float32).reshape(len(batch), -1)
        if logits.shape[1] != len(self.labels):
            raise SemanticModelError(
                "the semantic model returned an unexpected shape",
                context={"shape": list(logits.shape), "labels": len(self.labels)},
            )
        return _activate(logits, self.settings.activation)


def _activate(logits: npt.NDArray[np.float32], activation: Activation) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = logits
    if activation == "sigmoid":
        out = (1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))).astype(np.float32)
    elif activation == "softmax":
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        out = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def _pad_id(tokenizer: Any) -> int:
    for token in ("[PAD]", "<pad>"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0
