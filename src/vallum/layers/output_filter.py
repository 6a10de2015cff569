"""``output_filter``: PII and secrets in replies redacted (or blocked), system-prompt leaks caught,
harmful content flagged or blocked, and the input guard's pseudonyms restored.

Works on buffered responses (``on_response`` edits each text part) and on streams
(``on_chunk`` / ``on_stream_end``), with the same client-visible result for every chunk split.
"""

from __future__ import annotations

import os
from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from vallum.detectors.base import Detector, Match
from vallum.detectors.builtin import ContentCheck, SpanCheck
from vallum.detectors.content import ContentConfig
from vallum.detectors.operators import Operator, OperatorState
from vallum.detectors.pii import PII_KINDS, PiiConfig
from vallum.detectors.pii.phone import DEFAULT_REGIONS
from vallum.layers.output_filter_scan import (
    ChannelState,
    Restorer,
    Scanner,
    ngram_hits,
    ngram_set,
)
from vallum.pipeline.exchange import Exchange, Finding, Source
from vallum.pipeline.layer import (
    Deny,
    Layer,
    LayerConfig,
    LayerContext,
    ResponseMode,
    ResponseView,
    StreamEdit,
    StreamWindow,
)

__all__ = ["OutputFilter", "OutputFilterConfig"]

ActionName = Literal["redact", "mask", "hash", "pseudonymise", "block"]


class OutputFilterConfig(LayerConfig):
    type: Literal["output_filter"] = "output_filter"
    entities: list[str] | None = Field(
        None, max_length=len(PII_KINDS), description="PII kinds to look for; None means all."
    )
    secrets: bool = Field(True, description="Also look for API keys, private keys and tokens.")
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="Ignore matches scoring below.")
    regions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REGIONS),
        max_length=64,
        description="Regions whose national phone formats are recognised.",
    )
    action: ActionName = Field("redact", description="What to do with a match by default.")
    actions: dict[str, ActionName] = Field(
        default_factory=dict, max_length=32, description="Per entity kind overrides of `action`."
    )
    hash_key: SecretStr | None = Field(
        None, description="HMAC key for `hash` and findings; random per process when unset."
    )
    lookbehind: int = Field(
        320, ge=64, le=16384, description="Characters held back per stream channel."
    )
    scan_every: int = Field(
        32,
        ge=1,
        le=4096,
        description="On streams, scan a channel again only after this many new characters "
        "(1: every delta); text is then released in steps of about this size.",
    )
    leak_ngram: int = Field(8, ge=3, le=64, description="Words per n-gram for leak detection.")
    leak_min_hits: int = Field(
        2,
        ge=0,
        le=10_000,
        description="Shared n-grams with the system prompt that mean a leak (0: off).",
    )
    leak_action: Literal["block", "flag"] = Field("block", description="On a system-prompt leak.")
    canaries: list[str] = Field(
        default_factory=list, max_length=16, description="Canary strings that must never appear."
    )
    content: Literal["off", "flag", "block"] = Field(
        "off", description="Harmful-content classifier on reply text: off, flag or block."
    )
    content_config: ContentConfig = Field(
        default_factory=ContentConfig, description="Categories and threshold of the classifier."
    )
    content_every: int = Field(
        1024,
        ge=64,
        le=65536,
        description="On streams, classify after each this many released characters per channel.",
    )
    content_window: int = Field(
        2048,
        ge=64,
        le=65536,
        description="On streams, how many of the last released characters are classified.",
    )
    restore_pseudonyms: bool = Field(
        True, description="Replace the input guard's pseudonyms in replies with the originals."
    )


_BLOCKED = Deny(
    status=400,
    code="output_blocked",
    message="The response was blocked by the gateway's output policy.",
    error_type="invalid_request_error",
)
_CONTENT_BLOCKED = Deny(
    status=400,
    code="content_policy_violation",
    message="The response was blocked by the content policy.",
    error_type="invalid_request_error",
)
_HOLD = StreamEdit(hold_from=0)
# Per stream: operator state, channels, pseudonym restorer, and the system prompt's n-grams
# (computed once per stream, not once per chunk: the prompt does not change mid-reply).
_State = tuple[OperatorState, dict[str, ChannelState], Restorer, frozenset[int]]


class OutputFilter(Layer[OutputFilterConfig]):
    """Redacts, masks, hashes or pseudonymises sensitive values in replies, or blocks them."""

    name: ClassVar[str] = "output_filter"
    Config: ClassVar[type[LayerConfig]] = OutputFilterConfig
    response_mode: ClassVar[ResponseMode] = ResponseMode.STREAMING

    def __init__(self, config: OutputFilterConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        pii_config = PiiConfig(
            entities=config.entities, min_score=config.min_score, regions=config.regions
        )
        self.key = (
            config.hash_key.get_secret_value().encode() if config.hash_key else os.urandom(32)
        )
        detectors: list[Detector] = []
        if config.entities != []:
            detectors.append(SpanCheck.pii(pii_config))
        if config.secrets:
            detectors.append(SpanCheck.secrets(config.min_score))
        self.scanner = Scanner(
            detectors=tuple(detectors),
            actions={kind: Operator(a) for kind, a in config.actions.items()},
            default_action=Operator(config.action),
            lookbehind=config.lookbehind,
            margin=config.lookbehind * 3 // 10,
            scan_every=config.scan_every,
        )
        self.content = ContentCheck(config.content_config) if config.content != "off" else None

    @property
    def lookbehind(self) -> int:
        return self.config.lookbehind

    def begin(self, exchange: Exchange) -> _State:
        """A stream's state, made on its first window (the pipeline drops it at the end)."""
        return (
            OperatorState(self.key),
            {},
            self._restorer(exchange),
            self._system_grams(exchange),
        )

    def _restorer(self, exchange: Exchange) -> Restorer:
        pseudonyms = exchange.pseudonyms if self.config.restore_pseudonyms else {}
        return Restorer.build(pseudonyms)

    async def on_response(self, exchange: Exchange, response: ResponseView) -> Deny | None:
        operators = OperatorState(self.key)
        grams = self._system_grams(exchange)
        restorer = self._restorer(exchange)
        for part in list(response.parts):
            leak = self._leak(part.text, grams, set())
            if leak is not None:
                return leak if self._record_leak(exchange) else None
            _, matches, restores = self.scanner.split(part.text, restorer)
            if matches:
                self._record(exchange, part.text, matches)
            if any(self.scanner.action(m.kind) is Operator.BLOCK for m in matches):
                return _BLOCKED
            if matches or restores:
                text = self.scanner.edit(part.text, matches, operators, restores, restorer)
                response.replace_text(part, text)
        if self._classify(exchange, "\n".join(p.text for p in response.parts)):
            return _CONTENT_BLOCKED
        return None

    async def on_chunk(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return self._window(exchange, window, final=False)

    async def on_stream_end(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return self._window(exchange, window, final=True)

    def _window(self, exchange: Exchange, window: StreamWindow, final: bool) -> StreamEdit:
        state: _State = self.call_state(exchange)
        operators, channels, restorer, grams = state
        channel = channels.setdefault(window.channel, ChannelState())
        if not final and not self.scanner.due(window.text, channel, restorer.longest):
            return _HOLD  # nothing released now, so the leak check can wait for the scan
        leak = self._leak(window.text, grams, channel.leak_hits)
        if leak is not None and self._record_leak(exchange):
            return StreamEdit(terminate=leak)
        result = self.scanner.window(window.text, channel, operators, final, restorer)
        if final:
            channels.pop(window.channel, None)
        if result.applied:
            self._record(exchange, window.text, result.applied)
        if result.blocked is not None:
            return StreamEdit(terminate=_BLOCKED)
        released = result.text if result.hold_from is None else result.text[: result.hold_from]
        if self._stream_content(exchange, channel, released, final):
            return StreamEdit(terminate=_CONTENT_BLOCKED)
        return StreamEdit(text=result.text, hold_from=result.hold_from)

    def _stream_content(
        self, exchange: Exchange, channel: ChannelState, released: str, final: bool
    ) -> bool:
        """Classify the last ``content_window`` released characters every ``content_every``
        characters and at the end: the cost per chunk does not grow with the stream."""
        if self.content is None:
            return False
        size = self.config.content_window
        channel.content_tail = (channel.content_tail[-size:] + released[-size:])[-size:]
        channel.content_since += len(released)
        due = channel.content_since >= self.config.content_every
        if not (due or (final and channel.content_since > 0)):
            return False
        channel.content_since = 0
        return self._classify(exchange, channel.content_tail)

    def _classify(self, exchange: Exchange, text: str) -> bool:
        """Run the content classifier; record a finding when flagged; True means block."""
        if self.content is None or not text:
            return False
        verdicts = self.content.inspect(text, Source.ASSISTANT).verdicts
        for verdict in verdicts:
            detail = (
                f"detector=content@{verdict.version} category={verdict.kind} "
                f"action={self.config.content} len={len(text)}"
            )
            exchange.add_finding(
                Finding(self.name, f"content:{verdict.kind}", round(verdict.score, 4), None, detail)
            )
        return bool(verdicts) and self.config.content == "block"

    def _record(self, exchange: Exchange, text: str, matches: list[Match]) -> None:
        for match in matches:
            exchange.add_finding(
                Finding(
                    self.name,
                    match.kind,
                    match.score,
                    (match.start, match.end),
                    f"{match.detector}/{match.version} {match.redacted_detail(text, self.key)}",
                )
            )

    def _system_grams(self, exchange: Exchange) -> frozenset[int]:
        if self.config.leak_min_hits == 0 or exchange.request is None:
            return frozenset()
        system = [p.text for p in exchange.request.parts if p.source is Source.SYSTEM]
        return ngram_set(system, self.config.leak_ngram) if system else frozenset()

    def _leak(self, text: str, grams: frozenset[int], seen: set[int]) -> Deny | None:
        if any(canary in text for canary in self.config.canaries):
            return _leak_deny()
        if not grams:
            return None
        seen |= ngram_hits(text, grams, self.config.leak_ngram)
        return _leak_deny() if len(seen) >= self.config.leak_min_hits else None

    def _record_leak(self, exchange: Exchange) -> bool:
        exchange.add_finding(Finding(self.name, "SYSTEM_PROMPT_LEAK", 1.0, None, ""))
        return self.config.leak_action == "block"


def _leak_deny() -> Deny:
    return Deny(
        status=400,
        code="system_prompt_leak",
        message="The response was blocked: it reproduced protected instructions.",
    )
