"""Harmful-request detection: a shipped word model over stems and intent lexicons."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vallum.detectors.base import Match
from vallum.detectors.content.lexicon import CATEGORIES, SIGNALS, Lexicon, tokens
from vallum.detectors.content.words import WordModel

__all__ = [
    "CATEGORIES",
    "MINOR_BONUS",
    "ContentConfig",
    "ContentDetector",
    "ContentResult",
    "eval_detect",
    "gate_of",
    "lexicon_hits",
    "log_odds",
]

_MODEL_PACKAGE = "vallum.detectors.content.model"
_MODEL_FILE = "content.npz"
MINOR_BONUS = 1.5  # log-odds: a minor near a sexual word needs far less model evidence


class ContentConfig(BaseModel):
    """Categories and threshold of the content policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Score at or above which a request with harm evidence is harmful "
        "(default: the threshold shipped with the model).",
    )
    bare_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Score needed when the text holds no harm evidence: no word of a harm "
        "category, no harm verb on a person or oneself, no evasion "
        "(default: the shipped one; never below threshold).",
    )
    categories: list[str] = Field(
        default_factory=lambda: [*sorted(CATEGORIES), "other"],
        max_length=32,
        description="Categories that count; a flagged request in another category passes.",
    )
    deny_terms: list[str] = Field(
        default_factory=list, max_length=256, description="Phrases always treated as harmful."
    )
    allow_terms: list[str] = Field(
        default_factory=list, max_length=256, description="Phrases that make a request pass."
    )
    max_chars: int = Field(20000, ge=1, le=10_000_000, description="Characters scored per text.")


@dataclass(frozen=True, slots=True)
class ContentResult:
    flagged: bool
    score: float
    category: str | None
    evidence: bool = True  # a harm-category word, harm verb on a person or oneself, or evasion


class ContentDetector:
    """Scores a request for harmful intent; built once, used from many threads."""

    name = "content"

    def __init__(self, config: ContentConfig | None = None, model: WordModel | None = None) -> None:
        self.config = config or ContentConfig()
        self.model = model or WordModel.load(_MODEL_PACKAGE, _MODEL_FILE)
        self.lexicon = Lexicon()
        self.version = self.model.version
        shipped = self.model.thresholds
        self._threshold = self.config.threshold or shipped.get("chat", 0.5)
        bare = self.config.bare_threshold or shipped.get("bare", self._threshold)
        # one decision score: texts without harm evidence need ``bare`` (never below the
        # threshold), which is the same as lowering their log-odds by the difference
        self._bare_offset = max(0.0, log_odds(bare) - log_odds(self._threshold))
        self._allow = tuple(term.lower() for term in self.config.allow_terms)
        self._deny = tuple(term.lower() for term in self.config.deny_terms)

    def detect(self, text: str) -> ContentResult:
        """``score`` is the decision score: a text is flagged at ``score >= threshold``."""
        lowered = text[: self.config.max_chars].lower()
        if self._allow and any(map(lowered.__contains__, self._allow)):
            return ContentResult(False, 0.0, None)
        stems, dense = self.lexicon.analyse(lowered)
        category = _category(dense)
        if self._deny and any(map(lowered.__contains__, self._deny)):
            return ContentResult(True, 1.0, category)
        gate = gate_of(dense)
        value = self.model.logit(stems, dense)
        # a how-to with no harm word at all ("how to lose weight?") needs far more evidence;
        # a minor near a sexual word far less ("sex education for teens" still passes)
        value += -self._bare_offset if gate == "bare" else MINOR_BONUS if gate == "minor" else 0
        score = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, value))))
        flagged = score >= self._threshold and category in self.config.categories
        return ContentResult(flagged, score, category, gate != "bare")


def gate_of(dense: dict[str, float]) -> Literal["minor", "bare", "evidence"]:
    """Which rule governs a text: an exam question (lettered options, a blank) or no harm
    evidence at all (no word of a harm category, no harm verb on a person or oneself, no
    evasion); a minor near a sexual word; or neither."""
    if "multiple_choice" in dense:
        return "bare"  # an exam question (lettered options, a blank) asks for no harm
    if "minor_sexual" in dense:
        return "minor"
    if _category(dense) == "other" and "evasion_intent" not in dense:
        return "bare"
    return "evidence"


def log_odds(probability: float) -> float:
    """The log-odds of ``probability``, clamped so that 0 and 1 stay finite."""
    p = min(1.0 - 1e-9, max(1e-9, probability))
    return math.log(p / (1.0 - p))


def lexicon_hits(lowered: str, lexicon: Lexicon | None = None) -> list[str]:
    """Names of the categories and signals whose words occur in ``lowered``, in order."""
    lexicon = lexicon or Lexicon()
    found = lexicon.positions(lexicon.stems(tokens(lowered)))
    names = [name for name in CATEGORIES if f"obj:{name}" in found]
    if "minor_sexual" in lexicon.features(found) and "sexual_minors" not in names:
        names.insert(0, "sexual_minors")
    return names + [name for name in SIGNALS if name in found]


def _category(dense: dict[str, float]) -> str:
    """The category with the strongest evidence: intent on an object, then an object."""
    if "minor_sexual" in dense:
        return "sexual_minors"
    acted = next((name for name in CATEGORIES if f"act:{name}" in dense), None)
    if acted is not None:
        return acted
    if "harm_self" in dense:
        return "self_harm"
    if "harm_person" in dense:
        return "violence"
    if "demean_group" in dense:
        return "hate_harassment"
    if "private_person" in dense:
        return "privacy"
    return next((name for name in CATEGORIES if f"obj:{name}" in dense), "other")


def eval_detect() -> Callable[[str], list[Match]]:
    """A ``vallum eval`` detector: one whole-text match when the request is harmful."""
    detector = ContentDetector()

    def detect(text: str) -> list[Match]:
        result = detector.detect(text)
        if not result.flagged:
            return []
        kind = result.category or "other"
        return [Match(kind, 0, len(text), result.score, detector.name, detector.version)]

    return detect
