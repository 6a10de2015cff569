"""The exchange: one request's normalized view, shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from vallum.pipeline.attachments import Attachment

__all__ = [
    "Endpoint",
    "Exchange",
    "Finding",
    "NormalizedRequest",
    "Source",
    "TextPart",
    "Usage",
    "WireFormat",
]

JsonPath = tuple[str | int, ...]
T = TypeVar("T")


class WireFormat(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"


class Endpoint(StrEnum):
    CHAT = "chat.completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    RESPONSES = "responses"
    MODELS = "models"
    MESSAGES = "messages"


class Source(StrEnum):
    """Where a piece of text came from; decides how far it is trusted."""

    SYSTEM = "system"  # system / developer prompts: trusted
    USER = "user"
    ASSISTANT = "assistant"  # earlier model turns replayed by the client
    TOOL_CALL = "tool_call"  # arguments of a tool call
    TOOL_RESULT = "tool_result"  # tool / function output: least trusted
    DOCUMENT = "document"  # RAG documents: least trusted
    EMBEDDING_INPUT = "embedding_input"


@dataclass(slots=True)
class TextPart:
    """One piece of text in a request or response, and where it sits in the JSON body."""

    text: str
    source: Source
    path: JsonPath
    message_index: int | None = None


@dataclass(slots=True)
class NormalizedRequest:
    """A request parsed once: model, all text with its provenance, tools and parameters."""

    endpoint: Endpoint
    wire: WireFormat
    model: str
    stream: bool
    body: dict[str, Any]
    parts: list[TextPart] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    message_count: int = 0
    dirty: bool = False  # a layer changed the body (the upstream always gets it re-encoded)
    max_parts: int | None = None  # the parser refuses a request with more text parts

    def add_part(self, part: TextPart) -> None:
        """Add one text part found by the parser; past ``max_parts`` the request is refused
        at once, so a flood of tiny parts costs no more parsing than the cap allows."""
        if self.max_parts is not None and len(self.parts) >= self.max_parts:
            from vallum.errors import BadRequest

            raise BadRequest(
                f"The request has more than {self.max_parts} text parts.",
                code="too_many_parts",
            )
        self.parts.append(part)

    def replace_text(self, part: TextPart, text: str) -> None:
        """Replace one text part in the body (e.g. redaction) and mark the body dirty."""
        _set_path(self.body, part.path, text)
        part.text = text
        self.dirty = True


@dataclass(frozen=True, slots=True)
class Finding:
    """What a layer noticed. ``detail`` never holds raw secrets or matched PII."""

    layer: str
    kind: str
    score: float = 1.0
    span: tuple[int, int] | None = None
    detail: str = ""


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Exchange:
    """Everything known about one call, from the first byte to the audit record."""

    request_id: str
    method: str
    path: str
    client_ip: str
    headers: dict[str, str]
    started: float
    wire: WireFormat = WireFormat.OPENAI
    endpoint: Endpoint | None = None
    request: NormalizedRequest | None = None
    identity: Any = None  # set by the authn layer
    provider: str | None = None
    # the model name that served the call (the requested one, or the fallback that answered)
    # and the configured route it came from (a ``prefix*`` pattern, never a client's name)
    served_model: str | None = None
    served_route: str | None = None
    findings: list[Finding] = field(default_factory=list)
    usage: Usage | None = None
    status: int | None = None
    error_code: str | None = None
    decided_by: str | None = None
    stream_outcome: str | None = None
    layer_timings: dict[str, float] = field(default_factory=dict)
    routing: list[str] = field(default_factory=list)  # deployments tried and outcomes, in order
    # extra headers for a successful response (e.g. x-ratelimit-*); a Deny carries its own
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    # placeholder -> original value, for this request only (input_guard pseudonymisation)
    pseudonyms: dict[str, str] = field(default_factory=dict)
    # DER of the client certificate verified by Vallum's own TLS handshake (never a header)
    client_cert: bytes | None = None
    # the TCP peer (``client_ip`` may come from X-Forwarded-For): whom forwarded certs trust
    peer_ip: str = ""
    # streams: record the model text as it passes (a layer settles from it if no usage came)
    count_stream_text: bool = False
    streamed_text: list[str] = field(default_factory=list)
    # streams: drop the usage-only final event (a layer asked for it, the client did not)
    hide_usage_chunk: bool = False
    # USD this call cost, by the ratelimit layer's price table (None: no price for the model)
    cost_usd: float | None = None
    # the completion as the client got it (after the response layers), one item per choice
    # or content block; kept only when a layer (audit) asks for it, else None
    completion_text: list[str] | None = None
    completion_chars: int | None = None
    # typed data layers publish for the gateway and later layers (see pipeline.attachments)
    attachments: dict[Attachment[Any], Any] = field(default_factory=dict)
    # each layer's own state for this call, by layer (Layer.begin / call_state); the
    # pipeline drops it after on_complete
    layer_states: dict[object, Any] = field(default_factory=dict)

    def attach(self, key: Attachment[T], value: T) -> None:
        self.attachments[key] = value

    def attached(self, key: Attachment[T]) -> T | None:
        value: T | None = self.attachments.get(key)
        return value

    def set_completion(self, texts: list[str]) -> None:
        """Keep the completion text; its length counts the pieces joined by newlines."""
        self.completion_text = texts
        self.completion_chars = sum(len(t) for t in texts) + max(0, len(texts) - 1)

    def add_finding(self, finding: Finding) -> None:
        self.findings.append(finding)


def _set_path(root: Any, path: JsonPath, value: Any) -> None:
    target = root
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
