"""``input_guard``: prompt injection, content policy, secrets and PII in every request text.

Each text part is checked by what its source allows (system prompts are trusted, documents
and tool results are the least trusted) and the findings are acted on per detector:
block, refuse, redact / pseudonymise (secrets and PII), flag or shadow.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from vallum.detectors.base import Match, TextIndex
from vallum.detectors.content import ContentDetector
from vallum.detectors.injection import InjectionDetector, Trust
from vallum.detectors.normalize import Normalizer
from vallum.detectors.operators import Operator, OperatorState, replacement
from vallum.detectors.pii import PiiConfig, PiiDetector
from vallum.detectors.secrets import SecretDetector
from vallum.layers.input_guard_config import InputGuardConfig
from vallum.pipeline.exchange import Exchange, Finding, Source, TextPart
from vallum.pipeline.layer import Deny, Layer, LayerConfig, LayerContext

__all__ = [
    "TRUST_BY_SOURCE",
    "InputGuard",
    "InputGuardConfig",
    "PartScan",
    "RefusalDeny",
    "Verdict",
]

TRUST_BY_SOURCE: dict[Source, Trust] = {
    Source.SYSTEM: Trust.TRUSTED,
    Source.USER: Trust.USER,
    Source.ASSISTANT: Trust.TRUSTED,  # the model's own earlier turns
    Source.TOOL_CALL: Trust.TRUSTED,  # arguments the model wrote
    Source.TOOL_RESULT: Trust.UNTRUSTED,
    Source.DOCUMENT: Trust.UNTRUSTED,
    Source.EMBEDDING_INPUT: Trust.USER,
}
_CODES = {
    "injection": "prompt_injection_detected",
    "content": "content_policy_violation",
    "secrets": "secret_detected",
    "pii": "pii_detected",
}
_MESSAGES = {
    "injection": "The request was blocked: it looks like a prompt injection.",
    "content": "The request was blocked by the content policy.",
    "secrets": "The request was blocked: it contains a secret.",
    "pii": "The request was blocked: it contains personal data.",
}
_REPLACING = {"redact": Operator.REDACT, "pseudonymise": Operator.PSEUDONYMISE}


@dataclass(frozen=True, slots=True)
class RefusalDeny(Deny):
    """A block the policy wants answered as a 200 refusal (``finish_reason: content_filter``).

    The proxy renders it in the call's wire format (``proxy/refusal.py``); where a format has
    no refusal shape (embeddings, Responses streams) it is sent as the 400 it extends.
    """

    refusal: bool = True


@dataclass(frozen=True, slots=True)
class Verdict:
    """One detector's finding on one text: never holds the matched text itself."""

    detector: str
    kind: str
    score: float
    span: tuple[int, int] | None
    version: str
    digest: str = ""  # short hash of the matched value (secrets, PII), for correlation


@dataclass(frozen=True, slots=True)
class PartScan:
    """What the detectors found in one text part."""

    part: TextPart
    verdicts: tuple[Verdict, ...]
    matches: dict[str, list[Match]]  # secrets / pii spans to replace, by detector


class InputGuard(Layer[InputGuardConfig]):
    """Scans every text part of a request; blocks, redacts, flags or shadows findings."""

    name: ClassVar[str] = "input_guard"
    Config: ClassVar[type[LayerConfig]] = InputGuardConfig

    def __init__(self, config: InputGuardConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        self.normalizer = Normalizer(config.normalize)
        on = {name: getattr(config, name) != "off" for name in _CODES}
        self.injection = InjectionDetector(config.injection_config, self.normalizer)
        self.content = ContentDetector(config.content_config) if on["content"] else None
        self.secrets = SecretDetector() if on["secrets"] else None
        self.pii = PiiDetector(PiiConfig()) if on["pii"] else None

    async def on_request(self, exchange: Exchange) -> Deny | None:
        request = exchange.request
        if request is None or not request.parts:
            return None
        parts = list(request.parts)
        if sum(len(part.text) for part in parts) > self.config.offload_chars:
            scans = await asyncio.to_thread(self._scan_parts, parts)
        else:
            scans = self._scan_parts(parts)
        return self._act(exchange, scans)

    def _scan_parts(self, parts: Sequence[TextPart]) -> list[PartScan]:
        return [self.scan_part(part) for part in parts]

    def scan_part(self, part: TextPart) -> PartScan:
        """Every detector on one part: verdicts, and the secret / PII spans to replace."""
        verdicts = self.scan(part.text, part.source)
        matches: dict[str, list[Match]] = {}
        if part.source in self.config.span_sources:
            index = TextIndex(part.text)  # one pre-filter pass, shared by both detectors
            for name, detector in (("secrets", self.secrets), ("pii", self.pii)):
                found = detector.detect(part.text, index) if detector is not None else []
                if found:
                    matches[name] = found
                    verdicts.extend(_span_verdict(name, m, part.text) for m in found)
        return PartScan(part, tuple(verdicts), matches)

    def scan(self, text: str, source: Source) -> list[Verdict]:
        """Injection and content verdicts on one text (pure: no exchange, no action).

        The text is normalized once and both detectors read that one form.
        """
        verdicts: list[Verdict] = []
        trust = TRUST_BY_SOURCE[source]
        injection = self.config.injection != "off" and trust is not Trust.TRUSTED
        content = self.content is not None and source in self.config.content_sources
        if not (injection or content) or not text.strip():
            return verdicts
        normalized = self.normalizer.normalize(text)
        if injection:
            result = self.injection.score(normalized, trust)
            if result.flagged:
                kind = "+".join(result.families) or "model"
                version = self.injection.version
                verdicts.append(Verdict("injection", kind, result.score, result.span, version))
        if content and self.content is not None:
            found = self.content.detect(normalized.scan_text)
            if found.flagged:
                kind = found.category or "other"
                harmful = Verdict("content", kind, found.score, None, self.content.version)
                # a plain harmful request (no injection rule fired, only the model leaning
                # on the same words) is answered as content: the first verdict decides
                plain = bool(verdicts) and verdicts[0].kind == "model"
                verdicts.insert(0 if plain else len(verdicts), harmful)
        return verdicts

    def _act(self, exchange: Exchange, scans: list[PartScan]) -> Deny | None:
        deny: Deny | None = None
        flagged: set[str] = set()
        state = OperatorState(key=os.urandom(32))  # this request only: fakes never cross
        for scan in scans:
            for verdict in scan.verdicts:
                action = getattr(self.config, verdict.detector)
                exchange.add_finding(_finding(verdict, scan.part, action))
                if action in ("block", "refuse") and deny is None:
                    deny = self._deny(verdict.detector, action)
                elif action == "flag":
                    flagged.add(verdict.detector)
            if deny is None:
                self._replace(exchange, scan, state)
        if deny is None and flagged and self.config.flag_header:
            header = f"x-vallum-{self.config.flag_header}"
            exchange.response_headers.append((header, ",".join(sorted(flagged))))
        return deny

    def _replace(self, exchange: Exchange, scan: PartScan, state: OperatorState) -> None:
        """Redact or pseudonymise the secret / PII spans of one part, as each policy says."""
        request = exchange.request
        spans: list[tuple[Match, Operator]] = []
        for name, found in scan.matches.items():
            operator = _REPLACING.get(getattr(self.config, name))
            if operator is not None:
                spans.extend((match, operator) for match in found)
        if request is None or not spans:
            return
        spans.sort(key=lambda item: (item[0].start, -item[0].end))
        text = scan.part.text
        pieces: list[str] = []
        cursor = 0
        for match, operator in spans:
            if match.start < cursor:
                continue  # overlaps a span already replaced
            value = text[match.start : match.end]
            fake = replacement(value, match.kind, operator, state)
            if operator is Operator.PSEUDONYMISE:
                exchange.pseudonyms[fake] = value
            pieces.extend((text[cursor : match.start], fake))
            cursor = match.end
        pieces.append(text[cursor:])
        request.replace_text(scan.part, "".join(pieces))

    def _deny(self, detector: str, action: str) -> Deny:
        if action == "refuse":
            return RefusalDeny(
                status=400, code=_CODES[detector], message=self.config.refusal_message
            )
        return Deny(status=400, code=_CODES[detector], message=_MESSAGES[detector])


def _span_verdict(name: str, match: Match, text: str) -> Verdict:
    value = text[match.start : match.end]
    digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:12]
    return Verdict(name, match.kind, match.score, (match.start, match.end), match.version, digest)


def _finding(verdict: Verdict, part: TextPart, action: str) -> Finding:
    detail = f"detector={verdict.detector}@{verdict.version} action={action} source={part.source}"
    if verdict.span is not None and verdict.digest:
        detail += f" len={verdict.span[1] - verdict.span[0]} sha256={verdict.digest}"
    return Finding(
        layer="input_guard",
        kind=f"{verdict.detector}:{verdict.kind}",
        score=round(verdict.score, 4),
        span=verdict.span,
        detail=detail,
    )
