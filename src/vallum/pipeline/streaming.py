"""Streamed responses: SSE parsed once, text held back only as far as the layers need.

Per text channel (a choice, a content block) the processor keeps the held-back tail.
Each new delta is offered to the layers as ``held + delta``; all but the last
``holdback`` characters are released at once. Work per chunk is bounded by the
delta plus the hold-back, never by the length of the response so far.
"""

from __future__ import annotations

from typing import Any

import orjson

from vallum.pipeline.chain import Pipeline
from vallum.pipeline.exchange import Exchange, Source
from vallum.pipeline.layer import Deny, StreamEdit, StreamEnding, StreamWindow
from vallum.pipeline.sse import SSEEvent, SSEParser, encode_event
from vallum.providers.streams import StreamCodec

__all__ = ["CountingSniffer", "StreamProcessor", "UsageSniffer", "is_usage_only", "sniffer_for"]

_UPSTREAM_GARBAGE = Deny(
    status=502,
    code="upstream_bad_stream",
    message="The upstream sent a malformed stream event.",
    error_type="api_error",
)
# Events a pass-through stream must decode: usage blocks (OpenAI, Anthropic message_delta)
# and Anthropic's message_start (input tokens).
_USAGE_MARKERS = (b'"usage"', b"message_start")


class StreamProcessor:
    """Edits a provider stream for the streaming layers; output keeps the provider's format."""

    def __init__(self, exchange: Exchange, pipeline: Pipeline, codec: StreamCodec) -> None:
        self.exchange = exchange
        self.pipeline = pipeline
        self.codec = codec
        self.holdback = pipeline.holdback
        self.terminated: Deny | None = None
        self._stop: StreamEdit | None = None  # a layer's length ending, being carried out
        self._parser = SSEParser()
        self._held: dict[str, str] = {}
        # Released text per channel, kept as pieces (joining on every chunk would be O(n^2));
        # only closing events that repeat the full text (Responses API) ever need it joined.
        self._emitted: dict[str, list[str]] = {}
        self._edited: set[str] = set()
        self._tools = bool(pipeline.tool_stream_layers)  # tool-call arguments are offered

    async def feed(self, chunk: bytes) -> bytes:
        if self.terminated is not None:
            return b""
        out: list[bytes] = []
        for event in self._parser.feed(chunk):
            await self._event(event, out)
            if self.terminated is not None:
                break
        return b"".join(out)

    async def close(self) -> bytes:
        """The upstream ended: process a trailing event and flush every held channel."""
        if self.terminated is not None:
            return b""
        out: list[bytes] = []
        for event in self._parser.close():
            await self._event(event, out)
        if self.terminated is None:
            await self._flush(list(self._held), out)
        return b"".join(out)

    async def _event(self, event: SSEEvent, out: list[bytes]) -> None:
        if not event.data:
            out.append(event.raw)
            return
        if event.data == b"[DONE]":
            await self._flush(list(self._held), out)
            if self.terminated is None:
                out.append(event.raw)
            return
        try:
            data: Any = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            await self._terminate(_UPSTREAM_GARBAGE, out)
            return
        if not isinstance(data, dict):
            out.append(event.raw)
            return
        self.codec.observe(event.event, data)
        if self.exchange.hide_usage_chunk and is_usage_only(data):
            return
        changed = await self._deltas(event, data)
        if self._stop is not None:  # the text kept goes out, then the length ending
            out.append(encode_event(orjson.dumps(data), event.event) if changed else event.raw)
            await self._end_at_length(self._stop, out)
            return
        if self.terminated is not None:
            await self._terminate(self.terminated, out)
            return
        await self._ends(event, data, out)
        if self.terminated is not None:
            return
        if self._edited and self.codec.finalize(event.event, data, self._edited_text):
            changed = True
        out.append(encode_event(orjson.dumps(data), event.event) if changed else event.raw)

    async def _deltas(self, event: SSEEvent, data: dict[str, Any]) -> bool:
        changed = False
        if self.exchange.count_stream_text:
            self.exchange.streamed_text.extend(self.codec.generated(event.event, data))
        for channel, text in self.codec.deltas(event.event, data):
            if self._stop is not None:  # cut at a length ending: later text is not sent
                self.codec.set_delta(data, channel, "")
                changed = True
                continue
            if self.exchange.count_stream_text:
                self.exchange.streamed_text.append(text)
            window = self._held.get(channel, "") + text
            edit = await self.pipeline.on_window(self.exchange, StreamWindow(channel, window))
            if edit.terminate is not None:
                self.terminated = edit.terminate
                if edit.ending is not StreamEnding.LENGTH:
                    return changed
                self._stop = edit
            if edit.text is not None and edit.text != window:
                window = edit.text
                self._edited.add(channel)
            cut = max(0, len(window) - self.holdback)
            if edit.hold_from is not None:
                cut = max(0, min(cut, edit.hold_from))
            release, self._held[channel] = window[:cut], window[cut:]
            self._emitted.setdefault(channel, []).append(release)
            if release != text:
                self.codec.set_delta(data, channel, release)
                changed = True
        if self._tools and self.terminated is None:
            changed = await self._tool_deltas(event, data) or changed
        return changed

    async def _tool_deltas(self, event: SSEEvent, data: dict[str, Any]) -> bool:
        """Tool-call arguments: held or released as the tool layers say, never rewritten."""
        changed = False
        for channel, text in self.codec.tool_deltas(event.event, data):
            window = self._held.get(channel, "") + text
            edit = await self.pipeline.on_window(self.exchange, self._tool_window(channel, window))
            if edit.terminate is not None:
                self.terminated = edit.terminate
                return changed
            cut = max(0, len(window) - self.holdback)
            if edit.hold_from is not None:
                cut = max(0, min(cut, edit.hold_from))
            release, self._held[channel] = window[:cut], window[cut:]
            if release != text:
                self.codec.set_tool_delta(data, channel, release)
                changed = True
        return changed

    def _tool_window(self, channel: str, text: str, *, final: bool = False) -> StreamWindow:
        name = self.codec.tool_names.get(channel)
        return StreamWindow(channel, text, final, Source.TOOL_CALL, name)

    async def _ends(self, event: SSEEvent, data: dict[str, Any], out: list[bytes]) -> None:
        channels = self.codec.ends(event.event, data)
        if self._tools:  # a finished choice or block also finishes its tool calls
            owners = set(channels) | set(self.codec.tool_ends(event.event, data))
            channels = [c for c in self._held if _tool_owner(c) in owners] + channels
        if self.codec.is_done(event.event, data):
            channels = list(self._held)
        await self._flush(channels, out)

    async def _flush(self, channels: list[str], out: list[bytes]) -> None:
        for channel in channels:
            held = self._held.pop(channel, None)
            if held is None:
                continue
            tool = channel.startswith(_TOOL)
            window = (
                self._tool_window(channel, held, final=True)
                if tool
                else StreamWindow(channel, held, final=True)
            )
            edit = await self.pipeline.on_window(self.exchange, window)
            if edit.terminate is not None:
                await self._terminate(edit.terminate, out)
                return
            if tool:
                if held:
                    out.append(self.codec.tool_flush_event(channel, held))
                continue
            text = held if edit.text is None else edit.text
            if text != held:
                self._edited.add(channel)
            if text:
                self._emitted.setdefault(channel, []).append(text)
                out.append(self.codec.flush_event(channel, text))

    async def _end_at_length(self, stop: StreamEdit, out: list[bytes]) -> None:
        """A layer stopped the stream at a token limit: flush the held text (the layers
        still see it, and may block it), then end the way the model's own limit would."""
        await self._flush(list(self._held), out)
        if stop.terminate is None or self.terminated is not stop.terminate:
            return  # a layer blocked the flushed text: that ending went out instead
        out.append(self.codec.length_ending(sorted(self._emitted) or ["0"], stop.output_tokens))
        self.exchange.stream_outcome = "truncated"

    async def _terminate(self, deny: Deny, out: list[bytes]) -> None:
        self.terminated = deny
        channels = sorted({_tool_owner(c) or c for c in self._held} | set(self._emitted)) or ["0"]
        self._held.clear()
        out.append(self.codec.terminate(channels, deny.code, deny.message))
        self.exchange.stream_outcome = "terminated"

    def released_text(self) -> list[str]:
        """The text sent to the client so far, one item per channel (after the layers)."""
        return ["".join(pieces) for pieces in self._emitted.values()]

    def _edited_text(self) -> dict[str, str]:
        return {channel: "".join(self._emitted.get(channel, ())) for channel in self._edited}


_TOOL = "tool:"


def _tool_owner(channel: str) -> str | None:
    """The text channel a tool channel ``tool:<owner>:<n>`` belongs to (None: not a tool)."""
    return channel.split(":")[1] if channel.startswith(_TOOL) else None


class UsageSniffer:
    """For streams no layer edits: bytes pass untouched; only usage events are decoded."""

    def __init__(self, codec: StreamCodec) -> None:
        self.codec = codec
        self._parser = SSEParser()

    def feed(self, chunk: bytes) -> bytes:
        """Observe usage events; the chunk itself is returned untouched, to be forwarded."""
        for event in self._parser.feed_matching(chunk, _USAGE_MARKERS):
            self._observe(event)
        return chunk

    def close(self) -> bytes:
        for event in self._parser.close():
            self._observe(event)
        return b""

    def _observe(self, event: SSEEvent) -> None:
        if not any(marker in event.data for marker in _USAGE_MARKERS):
            return
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return
        if isinstance(data, dict):
            self.codec.observe(event.event, data)


def is_usage_only(data: dict[str, Any]) -> bool:
    """OpenAI's extra final chunk under ``include_usage``: no choices, only a usage block."""
    return data.get("choices") == [] and isinstance(data.get("usage"), dict)


class CountingSniffer:
    """For streams no layer edits, when the exchange asks to count text or hide usage.

    Every event is parsed (the cost ``UsageSniffer`` avoids, paid only when asked): text
    deltas are recorded on ``exchange.streamed_text``, usage is observed, and with
    ``exchange.hide_usage_chunk`` the usage-only final event is dropped. Other events pass
    as whole events, in the parser's form (line endings normalized to LF).
    """

    def __init__(self, exchange: Exchange, codec: StreamCodec) -> None:
        self.exchange = exchange
        self.codec = codec
        self._parser = SSEParser()

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(event.raw for event in self._parser.feed(chunk) if self._keep(event))

    def close(self) -> bytes:
        return b"".join(event.raw for event in self._parser.close() if self._keep(event))

    def _keep(self, event: SSEEvent) -> bool:
        if not event.data or event.data == b"[DONE]":
            return True
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return True  # forwarded as it came, as on the pass-through path
        if not isinstance(data, dict):
            return True
        self.codec.observe(event.event, data)
        if self.exchange.count_stream_text:
            self.exchange.streamed_text.extend(self.codec.generated(event.event, data))
            self.exchange.streamed_text.extend(t for _, t in self.codec.deltas(event.event, data))
        return not (self.exchange.hide_usage_chunk and is_usage_only(data))


def sniffer_for(exchange: Exchange, codec: StreamCodec) -> UsageSniffer | CountingSniffer:
    """The pass-through reader: byte-exact ``UsageSniffer`` unless the exchange asks for more."""
    if exchange.count_stream_text or exchange.hide_usage_chunk:
        return CountingSniffer(exchange, codec)
    return UsageSniffer(codec)
