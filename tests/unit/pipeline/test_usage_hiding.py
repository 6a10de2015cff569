"""Streams the ratelimit layer reads: the injected usage chunk is hidden, text is counted."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, ClassVar, Literal

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from vallum.clock import FakeClock
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.exchange import Endpoint, Exchange, Usage, WireFormat
from vallum.pipeline.layer import (
    Layer,
    LayerConfig,
    LayerContext,
    ResponseMode,
    StreamEdit,
    StreamWindow,
)
from vallum.pipeline.streaming import (
    CountingSniffer,
    StreamProcessor,
    UsageSniffer,
    is_usage_only,
    sniffer_for,
)
from vallum.providers.streams import codec_for

BASE = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
PIECES = ["Hel", "lo, ", "wor", "ld ✓"]
USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _events(pieces: list[str]) -> list[bytes]:
    """A chat stream as OpenAI sends it under include_usage: usage null, then a usage chunk."""
    chunks = [{**BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    chunks += [
        {**BASE, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
        for p in pieces
    ]
    chunks.append({**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events = [_event({**chunk, "usage": None}) for chunk in chunks]
    events.append(_event({**BASE, "choices": [], "usage": USAGE}))
    events.append(b"data: [DONE]\n\n")
    return events


STREAM = b"".join(_events(PIECES))
USAGE_EVENT = _events(PIECES)[-2]


def _exchange(*, hide: bool = False, count: bool = False) -> Exchange:
    exchange = Exchange("req_t", "POST", "/", "127.0.0.1", {}, 0.0, wire=WireFormat.OPENAI)
    exchange.hide_usage_chunk = hide
    exchange.count_stream_text = count
    return exchange


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _sniff(exchange: Exchange, chunks: list[bytes]) -> tuple[bytes, Usage | None]:
    codec = codec_for(WireFormat.OPENAI, Endpoint.CHAT)
    sniffer = sniffer_for(exchange, codec)
    out = b"".join(sniffer.feed(chunk) for chunk in chunks) + sniffer.close()
    return out, codec.usage


def test_usage_only_event_is_recognised() -> None:
    assert is_usage_only({"choices": [], "usage": USAGE})
    assert not is_usage_only({"choices": [], "usage": None})
    assert not is_usage_only({"choices": [{"index": 0}], "usage": USAGE})
    assert not is_usage_only({"usage": USAGE})


def test_untouched_stream_keeps_the_byte_exact_sniffer() -> None:
    assert isinstance(
        sniffer_for(_exchange(), codec_for(WireFormat.OPENAI, Endpoint.CHAT)), UsageSniffer
    )
    crlf = STREAM.replace(b"\n", b"\r\n")
    out, usage = _sniff(_exchange(), [crlf])
    assert out == crlf
    assert usage == Usage(9, 4)


def test_usage_chunk_is_kept_unless_asked() -> None:
    exchange = _exchange(count=True)
    assert isinstance(
        sniffer_for(exchange, codec_for(WireFormat.OPENAI, Endpoint.CHAT)), CountingSniffer
    )
    out, usage = _sniff(exchange, [STREAM])
    assert out == STREAM
    assert usage == Usage(9, 4)


def test_usage_chunk_is_dropped_when_asked_and_usage_still_read() -> None:
    out, usage = _sniff(_exchange(hide=True), [STREAM])
    assert out == STREAM.replace(USAGE_EVENT, b"")
    assert USAGE_EVENT in STREAM and b'"choices":[]' not in out
    assert out.endswith(b"data: [DONE]\n\n")
    assert usage == Usage(9, 4)


def test_streamed_text_is_counted_only_when_asked() -> None:
    counted = _exchange(count=True)
    _sniff(counted, [STREAM])
    assert "".join(counted.streamed_text) == "".join(PIECES)
    hidden_only = _exchange(hide=True)
    _sniff(hidden_only, [STREAM])
    assert hidden_only.streamed_text == []


cut_lists = st.lists(st.integers(min_value=0, max_value=4096), max_size=12)


@settings(max_examples=60, deadline=None)
@given(cut_lists, st.booleans(), st.booleans())
def test_any_split_gives_the_same_output(cuts: list[int], hide: bool, count: bool) -> None:
    whole = _sniff(_exchange(hide=hide, count=count), [STREAM])
    exchange = _exchange(hide=hide, count=count)
    assert _sniff(exchange, _split(STREAM, cuts)) == whole
    assert "".join(exchange.streamed_text) == ("".join(PIECES) if count else "")


class _UpperConfig(LayerConfig):
    type: Literal["upper"] = "upper"


class Upper(Layer[_UpperConfig]):
    """A streaming layer that edits every window, so streams take the processor path."""

    name: ClassVar[str] = "upper"
    Config: ClassVar[type[LayerConfig]] = _UpperConfig
    response_mode: ClassVar[ResponseMode] = ResponseMode.STREAMING

    async def on_chunk(self, exchange: Exchange, window: StreamWindow) -> StreamEdit | None:
        return StreamEdit(text=window.text.upper())


def _process(exchange: Exchange, chunks: list[bytes]) -> tuple[bytes, Usage | None]:
    clock = FakeClock()
    pipeline = Pipeline([Upper(_UpperConfig(), LayerContext(clock=clock))], clock)
    codec = codec_for(WireFormat.OPENAI, Endpoint.CHAT)
    processor = StreamProcessor(exchange, pipeline, codec)

    async def run() -> bytes:
        out = [await processor.feed(chunk) for chunk in chunks]
        return b"".join(out) + await processor.close()

    return asyncio.run(run()), codec.usage


@settings(max_examples=30, deadline=None)
@given(cut_lists)
def test_processor_drops_the_usage_chunk_only_when_asked(cuts: list[int]) -> None:
    kept, usage = _process(_exchange(), _split(STREAM, cuts))
    assert USAGE_EVENT in kept and usage == Usage(9, 4)
    exchange = _exchange(hide=True, count=True)
    dropped, usage = _process(exchange, _split(STREAM, cuts))
    assert b'"choices":[]' not in dropped and usage == Usage(9, 4)
    assert dropped == kept.replace(USAGE_EVENT, b"")
    assert b"WOR" in dropped and b"wor" not in dropped  # the layer really edited
    assert "".join(exchange.streamed_text) == "".join(PIECES)  # the upstream's text
