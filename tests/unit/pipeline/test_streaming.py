"""Stream processing: the hold-back window makes streamed edits equal buffered edits."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from vallum.clock import FakeClock
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.exchange import Endpoint, Exchange, WireFormat
from vallum.pipeline.layer import (
    Deny,
    Layer,
    LayerConfig,
    LayerContext,
    ResponseMode,
    StreamEdit,
    StreamWindow,
)
from vallum.pipeline.sse import SSEParser
from vallum.pipeline.streaming import StreamProcessor
from vallum.providers.streams import codec_for

WORD = "SECRET"
MASK = "[X]"


class _RedactConfig(LayerConfig):
    type: Literal["redact_word"] = "redact_word"


class RedactWord(Layer[_RedactConfig]):
    """Replaces a fixed word; needs len(word) - 1 characters of look-behind."""

    name: ClassVar[str] = "redact_word"
    Config: ClassVar[type[LayerConfig]] = _RedactConfig
    response_mode: ClassVar[ResponseMode] = ResponseMode.STREAMING

    @property
    def lookbehind(self) -> int:
        return len(WORD) - 1

    async def on_chunk(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return StreamEdit(text=window.text.replace(WORD, MASK)) if WORD in window.text else None

    async def on_stream_end(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return await self.on_chunk(exchange, window)


class BlockWord(RedactWord):
    name: ClassVar[str] = "block_word"

    async def on_chunk(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        if WORD in window.text:
            return StreamEdit(terminate=Deny(400, "content_filtered", "blocked"))
        return None


def _exchange(wire: WireFormat) -> Exchange:
    return Exchange("req_test", "POST", "/", "127.0.0.1", {}, 0.0, wire=wire)


def _pipeline(*layers: type[RedactWord]) -> Pipeline:
    context = LayerContext(clock=FakeClock())
    return Pipeline([cls(_RedactConfig(), context) for cls in layers], FakeClock())


def _openai_stream(pieces: list[str]) -> bytes:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    events += [
        {**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
        for p in pieces
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def _anthropic_stream(pieces: list[str]) -> bytes:
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0}),
    ]
    events += [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in pieces
    ]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 7}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(
        b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        for name, data in events
    )


def _text_of(output: bytes, wire: WireFormat) -> tuple[str, list[Any]]:
    parser = SSEParser()
    events = parser.feed(output) + parser.close()
    text, datas = "", []
    for event in events:
        if event.data == b"[DONE]" or not event.data:
            datas.append(event.data)
            continue
        data = orjson.loads(event.data)
        datas.append(data)
        if wire is WireFormat.OPENAI:
            for choice in data.get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
        elif data.get("type") == "content_block_delta":
            text += data["delta"]["text"]
    return text, datas


async def _run(pipeline: Pipeline, wire: WireFormat, stream: bytes, cuts: list[int]) -> bytes:
    processor = StreamProcessor(_exchange(wire), pipeline, codec_for(wire, Endpoint.CHAT))
    points = sorted({c % (len(stream) + 1) for c in cuts})
    out, start = [], 0
    for point in [*points, len(stream)]:
        out.append(await processor.feed(stream[start:point]))
        start = point
    out.append(await processor.close())
    return b"".join(out)


def _cut_text(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(text[start:point])
        start = point
    pieces.append(text[start:])
    return [p for p in pieces if p]


texts = st.lists(st.sampled_from(["a", "b", " ", "SEC", "RET", WORD, "é", "\n"]), max_size=40).map(
    "".join
)
cut_lists = st.lists(st.integers(min_value=0, max_value=10_000), max_size=25)


@settings(max_examples=150, deadline=None)
@given(texts, cut_lists, cut_lists, st.sampled_from([WireFormat.OPENAI, WireFormat.ANTHROPIC]))
def test_streamed_redaction_equals_buffered(
    text: str, text_cuts: list[int], byte_cuts: list[int], wire: WireFormat
) -> None:
    pieces = _cut_text(text, text_cuts)
    build = _openai_stream if wire is WireFormat.OPENAI else _anthropic_stream
    output = asyncio.run(_run(_pipeline(RedactWord), wire, build(pieces), byte_cuts))
    seen, _ = _text_of(output, wire)
    assert seen == text.replace(WORD, MASK)


@settings(max_examples=100, deadline=None)
@given(texts, cut_lists, cut_lists)
def test_without_editing_layers_events_pass_untouched(
    text: str, text_cuts: list[int], byte_cuts: list[int]
) -> None:
    stream = _openai_stream(_cut_text(text, text_cuts))
    output = asyncio.run(_run(_pipeline(), WireFormat.OPENAI, stream, byte_cuts))
    assert output == stream


def test_block_ends_an_openai_stream_with_content_filter() -> None:
    stream = _openai_stream(["hello ", "SEC", "RET", " more"])
    output = asyncio.run(_run(_pipeline(BlockWord), WireFormat.OPENAI, stream, []))
    text, events = _text_of(output, WireFormat.OPENAI)
    assert WORD not in text
    assert events[-1] == b"[DONE]"
    assert events[-2]["choices"][0]["finish_reason"] == "content_filter"


def test_block_ends_an_anthropic_stream_with_an_error_event() -> None:
    stream = _anthropic_stream(["hello ", "SECRET"])
    output = asyncio.run(_run(_pipeline(BlockWord), WireFormat.ANTHROPIC, stream, [17, 99]))
    text, events = _text_of(output, WireFormat.ANTHROPIC)
    assert WORD not in text
    assert events[-1]["type"] == "error"


def test_usage_is_collected_from_anthropic_events() -> None:
    processor = StreamProcessor(
        _exchange(WireFormat.ANTHROPIC),
        _pipeline(RedactWord),
        codec_for(WireFormat.ANTHROPIC, Endpoint.MESSAGES),
    )
    asyncio.run(processor.feed(_anthropic_stream(["x"])))
    assert processor.codec.usage is not None
    assert (processor.codec.usage.input_tokens, processor.codec.usage.output_tokens) == (3, 7)


def test_malformed_upstream_event_terminates_instead_of_leaking() -> None:
    processor = StreamProcessor(
        _exchange(WireFormat.OPENAI),
        _pipeline(RedactWord),
        codec_for(WireFormat.OPENAI, Endpoint.CHAT),
    )
    output = asyncio.run(processor.feed(b"data: {not json\n\n"))
    assert processor.terminated is not None
    assert b"content_filter" in output


def _responses_stream(pieces: list[str]) -> bytes:
    full = "".join(pieces)
    item = {"type": "message", "id": "m1", "role": "assistant"}
    done_item = {**item, "content": [{"type": "output_text", "text": full, "annotations": []}]}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "r1", "status": "in_progress"}},
    ]
    events += [
        {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0,
         "content_index": 0, "delta": p}
        for p in pieces
    ]  # fmt: skip
    events += [
        {"type": "response.output_text.done", "output_index": 0, "content_index": 0, "text": full},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed", "response": {"id": "r1", "output": [done_item]}},
    ]
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


@settings(max_examples=60, deadline=None)
@given(texts, cut_lists, cut_lists)
def test_responses_stream_closing_events_carry_the_edited_text(
    text: str, text_cuts: list[int], byte_cuts: list[int]
) -> None:
    stream = _responses_stream(_cut_text(text, text_cuts))
    processor = StreamProcessor(
        _exchange(WireFormat.OPENAI),
        _pipeline(RedactWord),
        codec_for(WireFormat.OPENAI, Endpoint.RESPONSES),
    )

    async def run() -> bytes:
        points = sorted({c % (len(stream) + 1) for c in byte_cuts})
        out, start = [], 0
        for point in [*points, len(stream)]:
            out.append(await processor.feed(stream[start:point]))
            start = point
        return b"".join(out) + await processor.close()

    parser = SSEParser()
    events = [orjson.loads(e.data) for e in parser.feed(asyncio.run(run())) + parser.close()]
    expected = text.replace(WORD, MASK)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == expected
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert done["text"] == expected
    completed = events[-1]
    assert completed["response"]["output"][0]["content"][0]["text"] == expected
