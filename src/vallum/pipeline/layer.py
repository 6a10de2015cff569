"""The layer contract (DESIGN.md §3): declarations plus async hooks with pass-through defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from vallum.errors import RequestRejected
from vallum.pipeline.exchange import Exchange, Source, TextPart

if TYPE_CHECKING:
    from vallum.clock import Clock
    from vallum.services import Need, Services

__all__ = [
    "Deny",
    "Layer",
    "LayerConfig",
    "LayerContext",
    "Outcome",
    "ResponseMode",
    "ResponseView",
    "StreamEdit",
    "StreamEnding",
    "StreamWindow",
]


class ResponseMode(StrEnum):
    NONE = "none"  # never looks at the response
    HEADERS = "headers"  # status and headers only
    BUFFERED = "buffered"  # whole non-streamed bodies (on_response)
    STREAMING = "streaming"  # buffered bodies and streamed deltas (on_chunk / on_stream_end)


class LayerConfig(BaseModel):
    """Base of every layer's strict config model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="The layer's name; selects the layer.", max_length=64)
    on_error: Literal["closed", "open"] = Field(
        "closed",
        description="What to do when the layer itself fails: deny (closed) or let the call pass.",
    )


@dataclass(frozen=True, slots=True)
class Deny:
    """A layer's refusal: HTTP status, stable error code and a message safe to show the client."""

    status: int
    code: str
    message: str
    error_type: str = "invalid_request_error"
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_error(cls, error: RequestRejected) -> Deny:
        return cls(
            status=error.status,
            code=error.code,
            message=error.public_message,
            error_type=error.error_type,
            param=error.param,
            headers=dict(error.headers),
        )


@dataclass(slots=True)
class ResponseView:
    """A non-streamed response as layers see it: status, parsed body and its text parts."""

    status: int
    body: dict[str, Any] | None
    parts: list[TextPart]
    dirty: bool = False

    def replace_text(self, part: TextPart, text: str) -> None:
        if self.body is None:
            return
        target: Any = self.body
        for step in part.path[:-1]:
            target = target[step]
        target[part.path[-1]] = text
        part.text = text
        self.dirty = True


@dataclass(frozen=True, slots=True)
class StreamWindow:
    """Streamed text a layer may inspect: what was held back plus the new delta.

    ``channel`` names one text stream (a choice, a content block). ``final`` is true
    when this is the last look before the held text is flushed. Windows of a tool call's
    arguments (``source`` TOOL_CALL, channel ``tool:…``, with the called ``tool_name``) go
    only to layers with ``sees_tool_calls``; they may be held or end the stream, but
    their text is never rewritten.
    """

    channel: str
    text: str
    final: bool = False
    source: Source = Source.ASSISTANT
    tool_name: str | None = None


class StreamEnding(StrEnum):
    """How a stream that a layer ends early closes, in each wire format's own terms."""

    # a policy stopped the text: the text in the window is dropped; OpenAI
    # finish_reason "content_filter", Responses incomplete (content_filter), Anthropic error
    CONTENT_FILTER = "content_filter"
    # a token limit was reached: the text in the window is kept and the stream ends as a
    # model at its token limit does: finish_reason "length", incomplete
    # (max_output_tokens), stop_reason "max_tokens"
    LENGTH = "length"


@dataclass(frozen=True, slots=True)
class StreamEdit:
    """A layer's answer to a stream window: replace its text, or end the stream.

    ``hold_from`` (an index into the returned text) keeps everything from there on held
    back, beyond the pipeline's fixed look-behind — for a match that may still grow.
    ``terminate`` ends the stream as ``ending`` says. With ``StreamEnding.LENGTH``, ``text``
    (the window up to the cut) still passes the later layers and is released, held text
    is flushed, then the ending follows, reporting ``output_tokens`` where the format
    carries usage.
    """

    text: str | None = None
    terminate: Deny | None = None
    hold_from: int | None = None
    ending: StreamEnding = StreamEnding.CONTENT_FILTER
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a call ended, handed to ``on_complete``."""

    status: int
    error_code: str | None
    decided_by: str | None
    duration: float


@dataclass(frozen=True, slots=True)
class LayerContext:
    """What a layer gets at construction: shared services owned by the Gateway.

    ``services`` is the typed view of what the layer declared in ``needs``; ``gateway`` is
    the owning Gateway, for layers not yet moved to declared services.
    """

    clock: Clock
    gateway: Any = None
    services: Services | None = None  # None when a layer runs without a gateway (tests)


C = TypeVar("C", bound=LayerConfig)


class Layer(Generic[C]):
    """Base class: override only the hooks a layer uses."""

    name: ClassVar[str]
    Config: ClassVar[type[LayerConfig]]
    needs_body: ClassVar[bool] = True
    response_mode: ClassVar[ResponseMode] = ResponseMode.NONE
    sees_tool_calls: ClassVar[bool] = False  # streamed tool-call arguments reach on_chunk
    needs: ClassVar[frozenset[Need]] = frozenset()  # gateway services it uses (services.py)

    def __init__(self, config: C, context: LayerContext) -> None:
        self.config = config
        self.context = context

    @property
    def mode(self) -> ResponseMode:
        """This instance's response mode: the class's, unless its config changes it."""
        return self.response_mode

    @property
    def lookbehind(self) -> int:
        """Characters this layer must see across stream chunk boundaries."""
        return 0

    @property
    def fail_open(self) -> bool:
        return self.config.on_error == "open"

    def begin(self, exchange: Exchange) -> Any:
        """This layer's state for one call (e.g. a stream's scanners), made by the pipeline
        the first time a hook asks for it (``call_state``) and dropped after ``on_complete``.

        State kept here belongs to this exchange alone: it is never found by a key the
        client can influence (a request id), so two calls can never share it.
        """
        return None

    def call_state(self, exchange: Exchange) -> Any:
        """This layer's per-call state for ``exchange`` (see ``begin``)."""
        states = exchange.layer_states
        if self not in states:
            states[self] = self.begin(exchange)
        return states[self]

    async def start(self) -> None:
        """Called once when the gateway starts (open connections, warm caches)."""

    async def stop(self) -> None:
        """Called once when the gateway stops."""

    async def on_request(self, exchange: Exchange) -> Deny | None:
        return None

    async def on_response(self, exchange: Exchange, response: ResponseView) -> Deny | None:
        return None

    async def on_chunk(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return None

    async def on_stream_end(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return None

    async def on_complete(self, exchange: Exchange, outcome: Outcome) -> None:
        return None
