"""The injection cascade: normalize, rules, then the model; thresholds by trust level."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from vallum.detectors.base import Match
from vallum.detectors.injection.ngram import NgramModel, hash_joined, prepare_lowered
from vallum.detectors.injection.rules import RuleHit
from vallum.detectors.injection.triggers import ORDERS, TriggerIndex, match_lowered
from vallum.detectors.normalize import Evasion, Normalized, Normalizer

__all__ = ["InjectionConfig", "InjectionDetector", "InjectionResult", "Trust", "eval_detect"]

_MODEL_PACKAGE = "vallum.detectors.injection.model"
# one head per trust level: user turns, and documents / tool results
_MODEL_FILES = {"chat": "injection.npz", "doc": "injection_doc.npz"}
_RULES_VERSION = "rules-4"
# Hiding words is itself suspicious: these evasions add to the score (encodings do not:
# base64 and hex are everywhere in ordinary documents; what they decode to is scanned).
_EVASION_WEIGHT = {"tag_characters": 0.6, "homoglyph": 0.3, "bidi_control": 0.2, "zero_width": 0.2}


class Trust(StrEnum):
    """How far a text is trusted: decides whether and how strictly it is checked."""

    TRUSTED = "trusted"  # system / developer prompts: never flagged
    USER = "user"  # user turns
    UNTRUSTED = "untrusted"  # documents, tool results, retrieved content


class InjectionConfig(BaseModel):
    """Tiers and thresholds of the injection detector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: bool = Field(True, description="Run the fast rule tier.")
    model: bool = Field(True, description="Run the shipped n-gram model tier.")
    user_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Score at or above which a user turn is an injection "
        "(default: the threshold shipped with the model, chosen for ≤ 1% false positives).",
    )
    untrusted_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="The same for documents and tool results."
    )
    user_flag_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Score at or above which a user turn below the block threshold is "
        "`uncertain` (default: shipped, chosen for ≤ 3% false positives per domain).",
    )
    untrusted_flag_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="The same for documents and tool results."
    )
    max_chars: int = Field(
        2_000_000, ge=1, le=100_000_000, description="Characters scanned per text; the rest is cut."
    )


@dataclass(frozen=True, slots=True)
class InjectionResult:
    """The verdict on one text."""

    flagged: bool
    score: float
    families: tuple[str, ...]
    model_score: float
    evasions: tuple[Evasion, ...]
    span: tuple[int, int] | None  # in the normalized text, of the first rule hit
    # not flagged, but the score is in the band between the flag and block thresholds
    uncertain: bool = False


_CLEAN = InjectionResult(False, 0.0, (), 0.0, (), None)


class InjectionDetector:
    """Scores texts for prompt injection; built once, used from many threads."""

    name = "injection"

    def __init__(
        self, config: InjectionConfig | None = None, normalizer: Normalizer | None = None
    ) -> None:
        self.config = config or InjectionConfig()
        self.normalizer = normalizer or Normalizer()
        self.models: dict[str, NgramModel] = {}
        if self.config.model:
            self.models = {h: NgramModel.load(_MODEL_PACKAGE, f) for h, f in _MODEL_FILES.items()}
        self.model = self.models.get("chat")  # the user-turn head
        version = self.model.version if self.model is not None else "no-model"
        bits = self.model.bits if self.model is not None else 19
        self.triggers = TriggerIndex(bits)
        # a head reuses the trigger index's n-gram hashes when they are its own features
        self._shared_hashes = {
            head: model.orders == ORDERS and model.bits == bits
            for head, model in self.models.items()
        }
        self.version = f"{_RULES_VERSION}+{version}"

    def threshold(self, trust: Trust) -> float:
        """The block threshold of a trust level."""
        head = _head(trust)
        shipped = self.models[head].thresholds if head in self.models else {}
        chosen = self.config.untrusted_threshold if head == "doc" else self.config.user_threshold
        return chosen or shipped.get(head, 0.5)

    def flag_threshold(self, trust: Trust) -> float:
        """Where the uncertain band (flag, not block) starts; at most the block threshold."""
        head = _head(trust)
        shipped = self.models[head].thresholds if head in self.models else {}
        config = self.config
        chosen = config.untrusted_flag_threshold if head == "doc" else config.user_flag_threshold
        return min(self.threshold(trust), chosen or shipped.get(f"{head}_flag", 1.0))

    def detect(self, text: str, trust: Trust = Trust.USER) -> InjectionResult:
        if trust is Trust.TRUSTED or not text.strip():
            return _CLEAN
        normalized = self.normalizer.normalize(text[: self.config.max_chars])
        return self.score(normalized, trust)

    def score(self, normalized: Normalized, trust: Trust = Trust.USER) -> InjectionResult:
        """Score an already-normalized text (the input guard normalizes once per part).

        A rule hit flags on its own (the rules are precise: their false-positive rate is
        part of the budget the thresholds were chosen for); otherwise the model score,
        raised by hiding tricks found by the normalizer, is compared with the threshold of
        the trust level.
        """
        if trust is Trust.TRUSTED:
            return _CLEAN
        lowered = normalized.scan_text.lower()
        data = prepare_lowered(lowered)
        hashed = None
        hits: list[RuleHit] = []
        if self.config.rules:
            hashed = hash_joined(data, ORDERS, self.triggers.bits)
            hits = match_lowered(lowered, *self.triggers.candidates(lowered, hashed[0]))
        model_score = 0.0
        head = _head(trust)
        model = self.models.get(head)
        if model is not None:
            shared = hashed if self._shared_hashes[head] else None
            model_score = model.max_score_prepared(data, shared)
        evasion = min(1.0, sum(_EVASION_WEIGHT.get(e.kind, 0.0) for e in normalized.evasions))
        boosted = model_score + evasion * (1.0 - model_score)
        rule_score = max((hit.score for hit in hits), default=0.0)
        flagged = bool(hits) or boosted >= self.threshold(trust)
        uncertain = not flagged and boosted >= self.flag_threshold(trust)
        families = tuple(sorted({hit.family for hit in hits}))
        span = (hits[0].start, hits[0].end) if hits else None
        score = max(rule_score, boosted)
        evasions = normalized.evasions
        return InjectionResult(flagged, score, families, model_score, evasions, span, uncertain)


def _head(trust: Trust) -> str:
    return "doc" if trust is Trust.UNTRUSTED else "chat"


def eval_detect(trust: Trust = Trust.USER) -> Callable[[str], list[Match]]:
    """A ``vallum eval`` detector: one whole-text match when the text is flagged."""
    detector = InjectionDetector()

    def detect(text: str) -> list[Match]:
        result = detector.detect(text, trust)
        if not result.flagged:
            return []
        kind = "+".join(result.families) or "model"
        return [Match(kind, 0, len(text), result.score, detector.name, detector.version)]

    return detect
