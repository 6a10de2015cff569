"""The shipped detectors behind the one contract: injection, content policy, secrets, PII.

``DETECTOR_NAMES`` is the one list of them: the input guard and the output filter build
theirs from their configs here, ``vallum eval`` and ``Guard`` through ``default_detector``.
"""

from __future__ import annotations

from typing import Protocol

from vallum.detectors.base import (
    NOTHING,
    Detector,
    Inspection,
    Match,
    Passes,
    Source,
    TextIndex,
    Verdict,
)
from vallum.detectors.content import ContentConfig, ContentDetector
from vallum.detectors.injection import InjectionConfig, InjectionDetector, Trust
from vallum.detectors.normalize import Normalizer
from vallum.detectors.pii import PiiConfig, PiiDetector
from vallum.detectors.secrets import SECRET_KINDS, SecretDetector
from vallum.errors import ConfigError

__all__ = [
    "DETECTOR_NAMES",
    "TRUST_BY_SOURCE",
    "ContentCheck",
    "InjectionCheck",
    "SpanCheck",
    "SpanDetector",
    "default_detector",
]

DETECTOR_NAMES = ("injection", "content", "secrets", "pii")  # the order verdicts come in

TRUST_BY_SOURCE: dict[Source, Trust] = {
    Source.SYSTEM: Trust.TRUSTED,
    Source.USER: Trust.USER,
    Source.ASSISTANT: Trust.TRUSTED,  # the model's own earlier turns
    Source.TOOL_CALL: Trust.TRUSTED,  # arguments the model wrote
    Source.TOOL_RESULT: Trust.UNTRUSTED,
    Source.DOCUMENT: Trust.UNTRUSTED,
    Source.EMBEDDING_INPUT: Trust.USER,
}


class InjectionCheck:
    """Prompt injection by trust level: system and assistant texts are never flagged.

    A rule hit is decisive; a model score is not (a cascade may ask a later tier).
    """

    name = "injection"
    kinds = frozenset({"injection"})

    def __init__(
        self,
        config: InjectionConfig | None = None,
        normalizer: Normalizer | None = None,
        uncertain: bool = False,
        *,
        trust_system: bool = True,
    ) -> None:
        self.normalizer = normalizer or Normalizer()
        self.detector = InjectionDetector(config, self.normalizer)
        self.version = self.detector.version
        # also report the band between the flag and block thresholds (``injection_uncertain``)
        self.uncertain = uncertain
        self.trust_system = trust_system  # false: system turns are scored as user turns

    def inspect(self, text: str, source: Source, passes: Passes | None = None) -> Inspection:
        trust = TRUST_BY_SOURCE[source]
        if source is Source.SYSTEM and not self.trust_system:
            trust = Trust.USER
        if trust is Trust.TRUSTED or not text.strip():
            return NOTHING
        normalized = (passes or Passes(text)).normalized(self.normalizer)
        result = self.detector.score(normalized, trust)
        verdicts: tuple[Verdict, ...] = ()
        if result.flagged:
            kind = "+".join(result.families) or "model"
            verdicts = (Verdict(self.name, kind, result.score, result.span, self.version),)
        elif result.uncertain and self.uncertain:
            band = "injection_uncertain"
            verdicts = (Verdict(band, "model", result.score, None, self.version),)
        return Inspection(verdicts, result.score, bool(result.families), normalized.scan_text)


class ContentCheck:
    """Harmful requests (or replies): reads the normalized text when given a normalizer.

    A deny or allow term (score exactly 1 or 0) is decisive; a model score is not.
    """

    name = "content"
    kinds = frozenset({"content"})

    def __init__(
        self, config: ContentConfig | None = None, normalizer: Normalizer | None = None
    ) -> None:
        self.normalizer = normalizer
        self.detector = ContentDetector(config)
        self.version = self.detector.version

    def inspect(self, text: str, source: Source, passes: Passes | None = None) -> Inspection:
        if not text.strip():
            return NOTHING
        read = text
        if self.normalizer is not None:
            read = (passes or Passes(text)).normalized(self.normalizer).scan_text
        found = self.detector.detect(read)
        verdicts: tuple[Verdict, ...] = ()
        if found.flagged:
            kind = found.category or "other"
            verdicts = (Verdict(self.name, kind, found.score, None, self.version),)
        return Inspection(verdicts, found.score, found.score in (0.0, 1.0), read)


class SpanDetector(Protocol):
    """A detector of located values (``PiiDetector``, ``SecretDetector``)."""

    @property
    def version(self) -> str: ...

    def detect(self, text: str, index: TextIndex | None = None) -> list[Match]: ...


class SpanCheck:
    """Secrets or PII: one verdict per located value, each carrying its ``Match``."""

    def __init__(self, name: str, detector: SpanDetector, kinds: frozenset[str]) -> None:
        self.name = name
        self.detector = detector
        self.kinds = kinds
        self.version = detector.version

    @classmethod
    def secrets(cls, min_score: float = 0.5) -> SpanCheck:
        return cls("secrets", SecretDetector(min_score=min_score), frozenset(SECRET_KINDS))

    @classmethod
    def pii(cls, config: PiiConfig | None = None) -> SpanCheck:
        detector = PiiDetector(config)
        return cls("pii", detector, detector.kinds)

    def matches(self, text: str, passes: Passes | None = None) -> list[Match]:
        index = passes.index if passes is not None else None
        return self.detector.detect(text, index)

    def inspect(self, text: str, source: Source, passes: Passes | None = None) -> Inspection:
        found = self.matches(text, passes)
        if not found:
            return NOTHING
        return Inspection(matches=tuple(found), detector=self.name, version=self.version)


def default_detector(name: str) -> Detector:
    """One shipped detector with its default settings, by name (see ``DETECTOR_NAMES``)."""
    if name == "injection":
        return InjectionCheck()
    if name == "content":
        return ContentCheck()
    if name == "secrets":
        return SpanCheck.secrets()
    if name == "pii":
        return SpanCheck.pii()
    raise ConfigError(f"unknown detector {name!r}; known: {', '.join(DETECTOR_NAMES)}")
