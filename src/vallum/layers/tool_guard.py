"""``tool_guard``: holds tool calls that untrusted content asked for, or the caller may not make.

A tool call (OpenAI ``tool_calls``, Responses ``function_call``, Anthropic ``tool_use``;
streamed or not) is held when its arguments carry a URL, e-mail address, IBAN, phone number,
file path or amount that occurs only in tool results or documents, never in the system or
user turns, or when it names a tool outside the caller's allow-list.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints

from vallum.detectors.base import keyed_digest
from vallum.detectors.provenance import (
    Origin,
    ProvenanceState,
    ValueIndex,
    ValueKind,
    argument_values,
)
from vallum.layers.tool_calls import find_calls, strip_calls
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

__all__ = ["ToolGuard", "ToolGuardConfig"]

# a tool name, or a pattern where ``*`` matches any run of characters
ToolPattern = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.*:-]+$")
]
_TRUSTED = frozenset({Source.SYSTEM, Source.USER})
_UNTRUSTED = frozenset({Source.TOOL_RESULT, Source.DOCUMENT})
_HOLD = StreamEdit(hold_from=0)


class ToolGuardConfig(LayerConfig):
    type: Literal["tool_guard"] = Field("tool_guard", description="Selects this layer.")
    action: Literal["block", "strip"] = Field(
        "block",
        description=(
            "block: refuse the whole response (error tool_call_blocked); strip: remove the "
            "held calls and answer with refusal_message in their place (buffered responses; "
            "a stream always ends before the held call's arguments go out)."
        ),
    )
    kinds: tuple[ValueKind, ...] = Field(
        tuple(ValueKind), max_length=len(ValueKind), description="Value kinds traced."
    )
    hold_unseen: bool = Field(
        False,
        description="Also hold values found nowhere in the request (the model made them up).",
    )
    trusted_hosts: tuple[ToolPattern, ...] = Field(
        (),
        max_length=256,
        description="Hosts (and their subdomains) always trusted as tool-call targets.",
    )
    exempt_tools: tuple[ToolPattern, ...] = Field(
        (), max_length=256, description="Tool name patterns (`*` wildcard) not traced."
    )
    default_tools: tuple[ToolPattern, ...] | None = Field(
        None,
        max_length=256,
        description="Tools any caller may call (patterns); None: any tool.",
    )
    tools_by_role: dict[
        Annotated[str, StringConstraints(max_length=128)], tuple[ToolPattern, ...]
    ] = Field(
        default_factory=dict,
        max_length=256,
        description="Tools a role may call; a caller with a listed role gets their union.",
    )
    tools_by_key: dict[
        Annotated[str, StringConstraints(max_length=128)], tuple[ToolPattern, ...]
    ] = Field(
        default_factory=dict,
        max_length=4096,
        description="Per key (credential id): narrows what the roles allow.",
    )
    key_label: str | None = Field(
        "tools",
        max_length=64,
        description="Key label holding comma-separated tool patterns that narrow further.",
    )
    refusal_message: str = Field(
        "A tool call was withheld by the gateway: it used a value that only untrusted "
        "content supplied.",
        min_length=1,
        max_length=1000,
        description="The text that replaces stripped calls (action strip).",
    )


def _matcher(patterns: tuple[str, ...]) -> re.Pattern[str]:
    parts = ("".join(".*" if c == "*" else re.escape(c) for c in p) for p in patterns)
    return re.compile("(?:" + "|".join(parts) + r")\Z")


class ToolGuard(Layer[ToolGuardConfig]):
    """Traces each tool call's values to the request turns that supplied them."""

    name: ClassVar[str] = "tool_guard"
    Config: ClassVar[type[LayerConfig]] = ToolGuardConfig
    response_mode: ClassVar[ResponseMode] = ResponseMode.STREAMING
    sees_tool_calls: ClassVar[bool] = True

    def __init__(self, config: ToolGuardConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        self._kinds = frozenset(config.kinds)
        self._exempt = _matcher(config.exempt_tools) if config.exempt_tools else None
        self._key = os.urandom(16)  # findings carry keyed digests, never the values
        self._default = _matcher(config.default_tools) if config.default_tools is not None else None
        self._by_role = {role: _matcher(p) for role, p in config.tools_by_role.items()}
        self._by_key = {key: _matcher(p) for key, p in config.tools_by_key.items()}

    async def on_request(self, exchange: Exchange) -> Deny | None:
        request = exchange.request
        if request is None:
            return None
        if not self.config.hold_unseen and not any(p.source in _UNTRUSTED for p in request.parts):
            return None  # nothing untrusted: no value can come only from there
        # Built now, before any later layer (spotlight) rewrites the untrusted text.
        self._call(exchange).index = ValueIndex.build(
            (p.text for p in request.parts if p.source in _TRUSTED),
            (p.text for p in request.parts if p.source in _UNTRUSTED),
            self.config.trusted_hosts,
        )
        return None

    async def on_response(self, exchange: Exchange, response: ResponseView) -> Deny | None:
        if response.body is None or exchange.request is None:
            return None
        calls = find_calls(exchange.wire, exchange.request.endpoint, response.body)
        verdicts = [(call, self._hold(exchange, call.name, call.arguments)) for call in calls]
        held = [call for call, reason in verdicts if reason is not None]
        if not held:
            return None
        if self.config.action == "block":
            return next(reason for _, reason in verdicts if reason is not None)
        strip_calls(exchange.wire, exchange.request.endpoint, response, held, self._refusal)
        return None

    async def on_chunk(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        if window.source is not Source.TOOL_CALL:
            return None
        if not self._allowed(exchange, window.tool_name or ""):
            self._note(exchange, "tool_not_allowed", window.tool_name or "", "")
            return StreamEdit(terminate=_NOT_ALLOWED)
        if self._call(exchange).index is None:
            return None  # no provenance to trace: the arguments need not wait
        return _HOLD  # arguments wait until the call is complete

    async def on_stream_end(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        if window.source is not Source.TOOL_CALL:
            return None
        reason = self._hold(exchange, window.tool_name or "", window.text)
        return None if reason is None else StreamEdit(terminate=reason)

    def begin(self, exchange: Exchange) -> ProvenanceState:
        """This call's provenance index, set by on_request (the pipeline drops it)."""
        return ProvenanceState()

    def _call(self, exchange: Exchange) -> ProvenanceState:
        call: ProvenanceState = self.call_state(exchange)
        return call

    @property
    def _refusal(self) -> str:
        return self.config.refusal_message

    def _hold(self, exchange: Exchange, name: str, arguments: str) -> Deny | None:
        """Why this call must not reach the client (None: it may); records findings."""
        if not self._allowed(exchange, name):
            self._note(exchange, "tool_not_allowed", name, "")
            return _NOT_ALLOWED
        if self._exempt is not None and self._exempt.match(name):
            return None
        index = self._call(exchange).index
        if index is None or not (index.has_untrusted or self.config.hold_unseen):
            return None
        held = False
        for value in argument_values(arguments):
            if value.kind not in self._kinds:
                continue
            origin = index.origin(value)
            if origin is Origin.UNTRUSTED_ONLY or (
                origin is Origin.UNSEEN and self.config.hold_unseen
            ):
                self._note(exchange, f"untrusted_{value.kind.value}", name, value.key, origin)
                held = True
        return _UNTRUSTED_VALUE if held else None

    def _allowed(self, exchange: Exchange, name: str) -> bool:
        identity = exchange.identity
        roles: frozenset[str] = getattr(identity, "roles", frozenset())
        listed = [self._by_role[r] for r in roles if r in self._by_role]
        if listed:
            if not any(m.match(name) for m in listed):
                return False
        elif self._default is not None and not self._default.match(name):
            return False
        return all(m.match(name) for m in self._narrowing(identity))

    def _narrowing(self, identity: Any) -> list[re.Pattern[str]]:
        out: list[re.Pattern[str]] = []
        credential = getattr(identity, "credential_id", None)
        if credential is not None and credential in self._by_key:
            out.append(self._by_key[credential])
        label = self.config.key_label
        for key, value in getattr(identity, "labels", ()):
            if label is not None and key == label:
                out.append(_matcher(tuple(p.strip() for p in value.split(",") if p.strip())))
        return out

    def _note(
        self,
        exchange: Exchange,
        kind: str,
        tool: str,
        value: str,
        origin: Origin | None = None,
    ) -> None:
        detail = f"tool={tool[:64]}"
        if origin is not None:
            detail += f" origin={origin.value} hmac={keyed_digest(value, self._key)}"
        exchange.add_finding(Finding(self.name, kind, 1.0, None, detail))


_UNTRUSTED_VALUE = Deny(
    status=400,
    code="tool_call_blocked",
    message=(
        "The response was blocked: the model called a tool with a value that only "
        "untrusted content (a tool result or document) supplied."
    ),
)
_NOT_ALLOWED = Deny(
    status=403,
    code="tool_not_allowed",
    message="The response was blocked: the model called a tool this credential may not use.",
    error_type="permission_error",
)
