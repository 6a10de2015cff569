"""``input_guard``: prompt injection, content policy, secrets and PII in every request text.

Each text part is checked by what its source allows (system prompts are trusted, documents
and tool results are the least trusted) and the findings are acted on per detector:
block, refuse, redact / pseudonymise (secrets and PII), flag or shadow.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from vallum.detectors.base import Detector, Inspection, Match, Passes, Verdict, value_digest
from vallum.detectors.builtin import TRUST_BY_SOURCE, ContentCheck, InjectionCheck, SpanCheck
from vallum.detectors.cascade import Cascade
from vallum.detectors.normalize import Normalizer
from vallum.detectors.operators import Operator, OperatorState, replacement, splice
from vallum.detectors.pii import PiiConfig
from vallum.detectors.tiers import build_cascade
from vallum.layers.input_guard_config import InputGuardConfig
from vallum.pipeline.exchange import Exchange, Finding, Source, TextPart
from vallum.pipeline.layer import Deny, Layer, LayerConfig, LayerContext

__all__ = [
    "TRUST_BY_SOURCE",
    "InputGuard",
    "InputGuardConfig",
    "PartScan",
    "RefusalDeny",
    "Scope",
    "Verdict",
]

_CODES = {
    "injection": "prompt_injection_detected",
    "injection_uncertain": "prompt_injection_detected",
    "content": "content_policy_violation",
    "secrets": "secret_detected",
    "pii": "pii_detected",
}
_MESSAGES = {
    "injection": "The request was blocked: it looks like a prompt injection.",
    "injection_uncertain": "The request was blocked: it looks like a prompt injection.",
    "content": "The request was blocked by the content policy.",
    "secrets": "The request was blocked: it contains a secret.",
    "pii": "The request was blocked: it contains personal data.",
}
_REPLACING = {"redact": Operator.REDACT, "pseudonymise": Operator.PSEUDONYMISE}
# Each part costs a fixed overhead on top of its length (normalising, model features, one
# pass per detector): measured at about what 300 characters of text cost, so many tiny parts
# weigh as much as one long text when deciding whether to scan off the event loop.
PART_COST_CHARS = 300


@dataclass(frozen=True, slots=True)
class RefusalDeny(Deny):
    """A block the policy wants answered as a 200 refusal (``finish_reason: content_filter``).

    The proxy renders it in the call's wire format (``proxy/refusal.py``); where a format has
    no refusal shape (embeddings, Responses streams) it is sent as the 400 it extends.
    """

    refusal: bool = True


@dataclass(frozen=True, slots=True)
class Scope:
    """One configured detector: which sources it reads, in the guard's detector order."""

    detector: Detector
    sources: frozenset[Source]


@dataclass(slots=True)
class PartScan:
    """What the detectors made of one text part, by detector name (in detector order)."""

    part: TextPart
    inspections: dict[str, Inspection]

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        """In detector order, except that a plain harmful request (no injection rule fired,
        only the injection model leaning on the same words) is answered as content: the
        first verdict decides the refusal's code."""
        found = [v for inspection in self.inspections.values() for v in inspection.verdicts]
        if len(found) > 1 and found[0].detector == "injection" and found[0].kind == "model":
            harmful = next((v for v in found if v.detector == "content"), None)
            if harmful is not None:
                found.remove(harmful)
                found.insert(0, harmful)
        return tuple(found)

    @property
    def matches(self) -> dict[str, list[Match]]:
        """The located values to replace (secrets, PII), by detector."""
        return {
            name: list(inspection.matches)
            for name, inspection in self.inspections.items()
            if inspection.matches
        }


class InputGuard(Layer[InputGuardConfig]):
    """Scans every text part of a request; blocks, redacts, flags or shadows findings."""

    name: ClassVar[str] = "input_guard"
    Config: ClassVar[type[LayerConfig]] = InputGuardConfig

    def __init__(self, config: InputGuardConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        self.normalizer = Normalizer(config.normalize)
        self.scopes = tuple(_scopes(config, self.normalizer))
        self.detectors = {scope.detector.name: scope.detector for scope in self.scopes}
        self.cascades = {
            name: build_cascade(name, cascade)
            for name, cascade in (
                ("injection", config.cascade.injection),
                ("content", config.cascade.content),
            )
            if cascade is not None and cascade.tiers and name in self.detectors
        }

    async def stop(self) -> None:
        for cascade in self.cascades.values():
            await cascade.close()

    async def on_request(self, exchange: Exchange) -> Deny | None:
        request = exchange.request
        if request is None or not request.parts:
            return None
        parts = list(request.parts)
        work = sum(len(part.text) for part in parts) + PART_COST_CHARS * len(parts)
        if work > self.config.offload_chars:
            scans = await asyncio.to_thread(self._scan_parts, parts)
        else:
            scans = self._scan_parts(parts)
        if self.cascades:
            await asyncio.gather(*(_consult(c, scans) for c in self.cascades.values()))
        return self._act(exchange, scans)

    def _scan_parts(self, parts: Sequence[TextPart]) -> list[PartScan]:
        return [self.scan_part(part) for part in parts]

    def scan_part(self, part: TextPart) -> PartScan:
        """Every configured detector that reads the part's source, sharing one set of passes
        (the text is normalized once, indexed once)."""
        passes = Passes(part.text, self.normalizer)
        inspections = {
            scope.detector.name: scope.detector.inspect(part.text, part.source, passes)
            for scope in self.scopes
            if part.source in scope.sources
        }
        return PartScan(part, inspections)

    def scan(self, text: str, source: Source) -> list[Verdict]:
        """The verdicts of every detector on one text (pure: no exchange, no action)."""
        return list(self.scan_part(TextPart(text, source, ())).verdicts)

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
        operators: dict[Match, Operator] = {}
        for name, found in scan.matches.items():
            operator = _REPLACING.get(getattr(self.config, name))
            if operator is not None:
                operators.update((match, operator) for match in found)
        if request is None or not operators:
            return

        def replace(match: Match, value: str) -> str:
            operator = operators[match]
            fake = replacement(value, match.kind, operator, state)
            if operator is Operator.PSEUDONYMISE:
                exchange.pseudonyms[fake] = value
            return fake

        request.replace_text(scan.part, splice(scan.part.text, list(operators), replace))

    def _deny(self, detector: str, action: str) -> Deny:
        if action == "refuse":
            return RefusalDeny(
                status=400, code=_CODES[detector], message=self.config.refusal_message
            )
        return Deny(status=400, code=_CODES[detector], message=_MESSAGES[detector])


async def _consult(cascade: Cascade, scans: Sequence[PartScan]) -> None:
    """Let the cascade's later tiers decide the parts its fast detector was unsure of."""
    name = cascade.detector
    by_source: dict[Source, list[PartScan]] = {}
    for scan in scans:
        fast = scan.inspections.get(name)
        if fast is not None and cascade.consults(fast, scan.part.source):
            by_source.setdefault(scan.part.source, []).append(scan)
    groups = list(by_source.items())
    decided = await asyncio.gather(
        *(cascade.decide([s.inspections[name].text for s in group], src) for src, group in groups)
    )
    for (_, group), answers in zip(groups, decided, strict=True):
        for scan, answer in zip(group, answers, strict=True):
            if answer is not None:
                scan.inspections[name] = answer.inspection(name, scan.inspections[name])


def _scopes(config: InputGuardConfig, normalizer: Normalizer) -> list[Scope]:
    """The configured detectors, in the order their verdicts are acted on."""
    scopes: list[Scope] = []
    if config.injection != "off":
        untrusted = frozenset(s for s, trust in TRUST_BY_SOURCE.items() if trust != "trusted")
        if not config.trust_system:
            untrusted |= {Source.SYSTEM}  # client system turns scored as user turns
        band = config.injection_uncertain != "off"
        injection = InjectionCheck(
            config.injection_config,
            normalizer,
            uncertain=band,
            trust_system=config.trust_system,
        )
        scopes.append(Scope(injection, untrusted))
    if config.content != "off":
        check = ContentCheck(config.content_config, normalizer)
        scopes.append(Scope(check, frozenset(config.content_sources)))
    spans = frozenset(config.span_sources)
    if config.secrets != "off":
        scopes.append(Scope(SpanCheck.secrets(), spans))
    if config.pii != "off":
        scopes.append(Scope(SpanCheck.pii(PiiConfig()), spans))
    return scopes


def _finding(verdict: Verdict, part: TextPart, action: str) -> Finding:
    detail = f"detector={verdict.detector}@{verdict.version} action={action} source={part.source}"
    match = verdict.match
    if match is not None:
        value = part.text[match.start : match.end]
        detail += f" len={match.length} sha256={value_digest(value)}"
    return Finding(
        layer="input_guard",
        kind=f"{verdict.detector}:{verdict.kind}",
        score=round(verdict.score, 4),
        span=verdict.span,
        detail=detail,
    )
