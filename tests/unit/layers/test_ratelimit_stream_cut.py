"""``stream_cut``: a stream is ended at the output its token limits left, the format's own way.

Streams come from the built-in mock model (the providers' own event shapes) and run
through the real ``StreamProcessor`` and ``Pipeline`` with the ratelimit layer in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import orjson
import pytest

from vallum.clock import FakeClock
from vallum.layers.ratelimit import Ratelimit, RatelimitConfig
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.exchange import (
    Endpoint,
    Exchange,
    NormalizedRequest,
    Source,
    TextPart,
    WireFormat,
)
from vallum.pipeline.layer import (
    Deny,
    Layer,
    LayerConfig,
    LayerContext,
    Outcome,
    ResponseMode,
    StreamEdit,
    StreamWindow,
)
from vallum.pipeline.streaming import StreamProcessor, sniffer_for
from vallum.providers.base import UpstreamRequest
from vallum.providers.mock import MockModel, MockSettings
from vallum.providers.streams import codec_for
from vallum.ratelimit.meter import StreamMeter
from vallum.ratelimit.spec import Charge, Limit, Measure

DONE = Outcome(status=200, error_code=None, decided_by=None, duration=0.1)
# 43 words, 291 ASCII bytes: the mock echoes it back in `chunks` pieces
PROMPT = " ".join(f"word{i:02d}" for i in range(40)) + " and the end"
PATHS = {
    Endpoint.CHAT: "/v1/chat/completions",
    Endpoint.RESPONSES: "/v1/responses",
    Endpoint.MESSAGES: "/v1/messages",
    Endpoint.EMBEDDINGS: "/v1/embeddings",
}
Make = Callable[..., Any]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    layers: list[Ratelimit] = []

    async def build(**config: Any) -> Ratelimit:
        config.setdefault("tokenizer", "estimate")
        config.setdefault("stream_cut", True)
        layer = Ratelimit(RatelimitConfig(**config), LayerContext(clock=FakeClock(1_700_000_040)))
        await layer.start()
        layers.append(layer)
        return layer

    yield build
    for layer in layers:
        await layer.stop()


def _body(endpoint: Endpoint, model: str, text: str, extra: dict[str, Any]) -> dict[str, Any]:
    if endpoint is Endpoint.RESPONSES:
        return {"model": model, "input": text, "stream": True, **extra}
    if endpoint is Endpoint.EMBEDDINGS:
        return {"model": model, "input": text}
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": True}
    if endpoint is Endpoint.MESSAGES:
        body["max_tokens"] = 4096
    return {**body, **extra}


def _exchange(
    endpoint: Endpoint, model: str = "mock-echo", text: str = PROMPT, **extra: Any
) -> Exchange:
    wire = WireFormat.ANTHROPIC if endpoint is Endpoint.MESSAGES else WireFormat.OPENAI
    body = _body(endpoint, model, text, extra)
    request = NormalizedRequest(
        endpoint=endpoint,
        wire=wire,
        model=model,
        stream=endpoint is not Endpoint.EMBEDDINGS,
        body=body,
        parts=[TextPart(text, Source.USER, ("messages", 0, "content"), 0)],
        message_count=0 if endpoint is Endpoint.EMBEDDINGS else 1,
    )
    return Exchange(
        "req_cut", "POST", PATHS[endpoint], "10.0.0.9", {}, 0.0, wire, endpoint, request
    )


async def _upstream(exchange: Exchange, chunks: int = 12) -> list[bytes]:
    assert exchange.request is not None
    model = MockModel(MockSettings(chunks=chunks), clock=lambda: 1_700_000_000.0)
    body = orjson.dumps(exchange.request.body)
    response = await model.handle(UpstreamRequest("POST", f"mock://local{exchange.path}", [], body))
    assert response.stream is not None
    return [chunk async for chunk in response.stream]


async def _stream(layers: list[Layer[Any]], exchange: Exchange) -> list[tuple[str | None, Any]]:
    """Run one admitted call's stream through the pipeline; settle it; return its events."""
    pipeline = Pipeline(layers, FakeClock(0))
    codec = codec_for(exchange.wire, exchange.endpoint or Endpoint.CHAT)
    processor = StreamProcessor(exchange, pipeline, codec)
    exchange.stream_outcome = "started"
    out = b""
    for chunk in await _upstream(exchange):
        out += await processor.feed(chunk)
        if processor.terminated is not None:
            break
    out += await processor.close()
    if processor.terminated is None:
        exchange.stream_outcome = "completed"
    exchange.usage, exchange.provider, exchange.status = codec.usage, "mock", 200
    await pipeline.on_complete(exchange, DONE)
    return _events(out)


def _events(raw: bytes) -> list[tuple[str | None, Any]]:
    events: list[tuple[str | None, Any]] = []
    for block in raw.decode().split("\n\n"):
        name, data = None, None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            events.append((name, data if data == "[DONE]" else orjson.loads(data)))
    return events


async def _remaining_output(layer: Ratelimit) -> int:
    """The output-token counter's room, read by a call that costs no output (embeddings)."""
    probe = _exchange(Endpoint.EMBEDDINGS)
    assert await layer.on_request(probe) is None
    return int(dict(probe.response_headers)["x-ratelimit-remaining-tokens"])


def _chat_text(events: list[tuple[str | None, Any]]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for _, data in events
        if isinstance(data, dict)
        for choice in data.get("choices", ())
    )


async def test_openai_chat_stream_is_cut_with_finish_reason_length(make: Make) -> None:
    layer = await make(
        default_max_tokens=8, limits=[{"scope": "ip", "output_tokens_per_minute": 30}]
    )
    exchange = _exchange(Endpoint.CHAT)
    assert await layer.on_request(exchange) is None
    events = await _stream([layer], exchange)
    # room: 8 reserved + 22 left = 30 tokens = 120 bytes under the bytes/4 estimate
    assert _chat_text(events) == PROMPT[:120]
    assert events[-1] == (None, "[DONE]")
    finishes = [c["finish_reason"] for _, d in events[:-1] for c in d["choices"]]
    assert finishes[-1] == "length" and set(finishes[:-1]) == {None}
    assert exchange.stream_outcome == "truncated"
    assert exchange.decided_by == "ratelimit"
    assert await _remaining_output(layer) == 0  # settled to the 30 tokens sent, not 8


async def test_stream_within_the_room_is_not_cut(make: Make) -> None:
    layer = await make(limits=[{"scope": "ip", "output_tokens_per_minute": 10_000}])
    exchange = _exchange(Endpoint.CHAT)
    assert await layer.on_request(exchange) is None
    events = await _stream([layer], exchange)
    assert _chat_text(events) == PROMPT
    finishes = [c["finish_reason"] for _, d in events[:-1] for c in d["choices"]]
    assert finishes[-1] == "stop"
    assert exchange.stream_outcome == "completed"
    # no usage block (not asked): settled to the text counted as it passed
    assert await _remaining_output(layer) == 10_000 - -(-len(PROMPT) // 4)


async def test_anthropic_stream_is_cut_as_at_max_tokens(make: Make) -> None:
    layer = await make(limits=[{"scope": "ip", "output_tokens_per_minute": 100}])
    busy = _exchange(Endpoint.MESSAGES, max_tokens=40)
    assert await layer.on_request(busy) is None  # holds 40 of the 100
    exchange = _exchange(Endpoint.MESSAGES, max_tokens=50)  # above the 43 words echoed
    assert await layer.on_request(exchange) is None
    events = await _stream([layer], exchange)
    kinds = [data["type"] for _, data in events]
    assert "error" not in kinds
    text = "".join(d["delta"]["text"] for _, d in events if d["type"] == "content_block_delta")
    assert text == PROMPT[:240]  # room: 50 reserved + 10 left = 60 tokens = 240 bytes
    assert events[-3] == ("content_block_stop", {"type": "content_block_stop", "index": 0})
    name, delta = events[-2]
    assert name == "message_delta"
    assert delta["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert delta["usage"] == {"output_tokens": 60}
    assert events[-1] == ("message_stop", {"type": "message_stop"})
    assert kinds.count("content_block_stop") == 1
    assert await _remaining_output(layer) == 0  # 40 still reserved + 60 settled


async def test_responses_stream_is_cut_with_an_incomplete_ending(make: Make) -> None:
    layer = await make(
        default_max_tokens=5, limits=[{"scope": "ip", "output_tokens_per_minute": 9}]
    )
    exchange = _exchange(Endpoint.RESPONSES)
    assert await layer.on_request(exchange) is None
    events = await _stream([layer], exchange)
    text = "".join(d["delta"] for _, d in events if d["type"] == "response.output_text.delta")
    assert text == PROMPT[:36]
    name, last = events[-1]
    assert name == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["sequence_number"] > events[-2][1]["sequence_number"]
    assert await _remaining_output(layer) == 0


async def test_total_token_limit_leaves_the_prompt_out_of_the_room(make: Make) -> None:
    prompt_tokens = -(-len(PROMPT) // 4) + 3 + 3  # bytes/4, message framing, reply priming
    limit = prompt_tokens + 20
    layer = await make(default_max_tokens=4, limits=[{"scope": "ip", "tokens_per_minute": limit}])
    exchange = _exchange(Endpoint.CHAT)
    assert await layer.on_request(exchange) is None
    events = await _stream([layer], exchange)
    assert _chat_text(events) == PROMPT[:80]  # 20 output tokens


async def test_overshoot_with_the_cut_is_bounded_by_the_room_other_calls_saw(make: Make) -> None:
    """Calls in flight together may each use the room they saw at reserve: the counter
    ends at most (N - 1) x the first call's room above the limit (docs: Limits)."""
    layer = await make(
        default_max_tokens=20,
        limits=[
            {"scope": "ip", "output_tokens_per_minute": 100},
            {"scope": "global", "output_tokens_per_minute": 1_000_000},  # reads the usage
        ],
    )
    text = " ".join([PROMPT] * 3)  # 875 bytes: more than either room
    first, second = _exchange(Endpoint.CHAT, text=text), _exchange(Endpoint.CHAT, text=text)
    assert await layer.on_request(first) is None  # 20 reserved, 80 left: room 100
    assert await layer.on_request(second) is None  # 20 reserved, 60 left: room 80
    assert _chat_text(await _stream([layer], first)) == text[: 100 * 4]
    assert _chat_text(await _stream([layer], second)) == text[: 80 * 4]
    assert layer.backend is not None
    usage = Limit("g:all:otpm", Measure.OUTPUT_TOKENS, 1_000_000, 60.0, "global")
    verdict = await layer.backend.reserve([Charge(usage, 0)], "probe", 1_700_000_040.0, 1)
    used = 1_000_000 - verdict.states[0].remaining
    assert used == 180 <= 100 + (2 - 1) * 80


class _Redact(Layer[LayerConfig]):
    """A later streaming layer: what the cut keeps must still pass it."""

    name: ClassVar[str] = "redact"
    Config: ClassVar[type[LayerConfig]] = LayerConfig
    response_mode: ClassVar[ResponseMode] = ResponseMode.STREAMING

    @property
    def lookbehind(self) -> int:
        return 16

    async def on_chunk(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return StreamEdit(text=window.text.replace("word03", "[X]"))

    async def on_stream_end(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return await self.on_chunk(exchange, window)


class _Block(_Redact):
    async def on_stream_end(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return StreamEdit(terminate=Deny(400, "blocked", "blocked"))


async def test_text_kept_at_the_cut_still_passes_later_layers(make: Make) -> None:
    layer = await make(
        default_max_tokens=4, limits=[{"scope": "ip", "output_tokens_per_minute": 10}]
    )
    exchange = _exchange(Endpoint.CHAT)
    assert await layer.on_request(exchange) is None
    redact = _Redact(LayerConfig(type="redact"), LayerContext(clock=FakeClock(0)))
    events = await _stream([layer, redact], exchange)
    assert _chat_text(events) == PROMPT[:40].replace("word03", "[X]")  # held text flushed
    assert events[-2][1]["choices"][0]["finish_reason"] == "length"


async def test_a_later_layer_blocking_the_flushed_text_wins(make: Make) -> None:
    layer = await make(
        default_max_tokens=4, limits=[{"scope": "ip", "output_tokens_per_minute": 10}]
    )
    exchange = _exchange(Endpoint.CHAT)
    assert await layer.on_request(exchange) is None
    block = _Block(LayerConfig(type="redact"), LayerContext(clock=FakeClock(0)))
    events = await _stream([layer, block], exchange)
    finishes = [c["finish_reason"] for _, d in events[:-1] for c in d["choices"]]
    assert finishes[-1] == "content_filter" and "length" not in finishes
    assert exchange.stream_outcome == "terminated"


async def test_exact_counting_cuts_at_whole_tokens(make: Make) -> None:
    layer = await make(
        tokenizer="exact",
        default_max_tokens=6,
        limits=[{"scope": "ip", "output_tokens_per_minute": 15}],
    )
    reply = "The quick brown fox jumps over the lazy dog, again and again, until it tires."
    exchange = _exchange(Endpoint.CHAT, model="gpt-4o-mini")
    assert await layer.on_request(exchange) is None
    model = MockModel(MockSettings(reply=reply, chunks=40), clock=lambda: 1.0)
    pipeline = Pipeline([layer], FakeClock(0))
    processor = StreamProcessor(exchange, pipeline, codec_for(WireFormat.OPENAI, Endpoint.CHAT))
    assert exchange.request is not None
    response = await model.handle(
        UpstreamRequest(
            "POST", "mock://l/v1/chat/completions", [], orjson.dumps(exchange.request.body)
        )
    )
    assert response.stream is not None
    out = b""
    async for chunk in response.stream:
        out += await processor.feed(chunk)
    text = _chat_text(_events(out))
    encoding = layer.tokens.encoding("gpt-4o-mini")
    assert reply.startswith(text) and len(text) < len(reply)
    assert len(encoding.encode_ordinary(text)) <= 15 < len(encoding.encode_ordinary(reply))


def test_meter_estimate_never_splits_a_character() -> None:
    meter = StreamMeter(room=2, encoding=None)
    assert meter.take("abc") is None  # 3 bytes: 1 token
    kept = meter.take("dé€f")  # 1 + 2 + 3 + 1 bytes; room left: 8 - 3 = 5 bytes
    assert kept == "dé" and meter.cut and meter.tokens == 2


async def test_tool_call_arguments_count_in_the_streamed_fallback(make: Make) -> None:
    layer = await make(stream_cut=False, limits=[{"scope": "ip", "tokens_per_minute": 100_000}])
    tools = [{"type": "function", "function": {"name": "search", "parameters": {}}}]
    exchange = _exchange(Endpoint.CHAT, text="please call tool now", tools=tools)
    assert await layer.on_request(exchange) is None
    assert exchange.count_stream_text
    reserved = 100_000 - int(dict(exchange.response_headers)["x-ratelimit-remaining-tokens"])
    codec = codec_for(WireFormat.OPENAI, Endpoint.CHAT)
    sniffer = sniffer_for(exchange, codec)
    for chunk in await _upstream(exchange):
        sniffer.feed(chunk)
    sniffer.close()
    exchange.stream_outcome, exchange.usage = "completed", codec.usage
    exchange.provider, exchange.status = "mock", 200
    await layer.on_complete(exchange, DONE)
    arguments = '{"query":"please call tool now"}'
    assert "".join(exchange.streamed_text) == arguments
    probe = _exchange(Endpoint.EMBEDDINGS, text="x")  # costs 1 token
    assert await layer.on_request(probe) is None
    charged = 100_000 - int(dict(probe.response_headers)["x-ratelimit-remaining-tokens"]) - 1
    prompt = reserved - 1024
    assert charged == prompt + -(-len(arguments) // 4)
