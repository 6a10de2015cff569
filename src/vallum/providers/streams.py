"""Stream codecs: where text sits in each provider's stream events, and how to rewrite it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from vallum.pipeline.exchange import Endpoint, Usage, WireFormat
from vallum.pipeline.sse import encode_event

__all__ = [
    "AnthropicMessagesCodec",
    "OpenAIChatCodec",
    "OpenAICompletionsCodec",
    "OpenAIResponsesCodec",
    "StreamCodec",
    "codec_for",
]


class StreamCodec:
    """Base codec: knows one wire format's stream events. One instance per stream."""

    channel_key = "content"

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.template: dict[str, Any] = {}
        # tool-call channels ("tool:<owner>:<n>") and the name of the tool each one calls
        self.tool_names: dict[str, str] = {}

    def observe(self, name: str | None, data: dict[str, Any]) -> None:
        """Remember what a synthesized event needs (ids, model) and the usage block."""

    def deltas(self, name: str | None, data: dict[str, Any]) -> list[tuple[str, str]]:
        return []

    def generated(self, name: str | None, data: dict[str, Any]) -> list[str]:
        """Model output the layers are not offered (tool-call arguments, refusals, thinking):
        read only to count a stream's output tokens."""
        return []

    def set_delta(self, data: dict[str, Any], channel: str, text: str) -> None:
        raise NotImplementedError

    def tool_deltas(self, name: str | None, data: dict[str, Any]) -> list[tuple[str, str]]:
        """Tool-call argument text in this event, per tool channel ``tool:<owner>:<n>``.

        A call's first event yields its channel (with ``""`` when it carries no arguments
        yet), so a layer sees every call, named, before any of its arguments go out.
        ``<owner>`` is the channel that ``ends`` or ``tool_ends`` reports when the call is
        complete.
        """
        return []

    def set_tool_delta(self, data: dict[str, Any], channel: str, text: str) -> None:
        """Replace the argument text of one tool channel in this event."""

    def tool_flush_event(self, channel: str, text: str) -> bytes:
        raise NotImplementedError

    def tool_ends(self, name: str | None, data: dict[str, Any]) -> list[str]:
        """Owners whose tool calls are complete with this event (beyond what ``ends`` says)."""
        return []

    def ends(self, name: str | None, data: dict[str, Any]) -> list[str]:
        return []

    def is_done(self, name: str | None, data: dict[str, Any]) -> bool:
        return False

    def flush_event(self, channel: str, text: str) -> bytes:
        raise NotImplementedError

    def finalize(
        self, name: str | None, data: dict[str, Any], emitted: Callable[[], dict[str, str]]
    ) -> bool:
        """Rewrite full-text fields of closing events to the edited text; True if changed.

        ``emitted`` is called only for closing events, so ordinary deltas never pay for it.
        """
        return False

    def terminate(self, channels: list[str], code: str, message: str) -> bytes:
        """End the stream because a layer said so, in the wire format's own way."""
        raise NotImplementedError

    def length_ending(self, channels: list[str], output_tokens: int | None) -> bytes:
        """End the stream as the model does at its token limit (a layer's length ending);
        ``output_tokens`` goes where that ending reports usage."""
        raise NotImplementedError

    def error_event(self, code: str, message: str) -> bytes:
        """End the stream because the upstream failed: an error event the SDKs raise on."""
        error = {"message": message, "type": "api_error", "param": None, "code": code}
        return encode_event(orjson.dumps({"error": error}))


class _OpenAIChoicesCodec(StreamCodec):
    """Chat and legacy completions: text in ``choices[i].delta.content`` or ``choices[i].text``."""

    def observe(self, name: str | None, data: dict[str, Any]) -> None:
        if not self.template and "choices" in data:
            self.template = {k: v for k, v in data.items() if k not in ("choices", "usage")}
        usage = data.get("usage")
        if isinstance(usage, dict):
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            if isinstance(prompt, int) and isinstance(completion, int):
                self.usage = Usage(prompt, completion)

    def _text_holder(self, choice: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError

    def deltas(self, name: str | None, data: dict[str, Any]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for choice in data.get("choices") or ():
            holder = self._text_holder(choice)
            if holder is not None:
                text = holder.get(self.channel_key)
                if isinstance(text, str) and text:
                    out.append((str(choice.get("index", 0)), text))
        return out

    def set_delta(self, data: dict[str, Any], channel: str, text: str) -> None:
        for choice in data.get("choices") or ():
            if str(choice.get("index", 0)) == channel:
                holder = self._text_holder(choice)
                if holder is not None:
                    holder[self.channel_key] = text

    def ends(self, name: str | None, data: dict[str, Any]) -> list[str]:
        return [
            str(choice.get("index", 0))
            for choice in data.get("choices") or ()
            if choice.get("finish_reason") is not None
        ]

    def _choice(self, channel: str, text: str | None, finish: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def flush_event(self, channel: str, text: str) -> bytes:
        event = {**self.template, "choices": [self._choice(channel, text, None)]}
        return encode_event(orjson.dumps(event))

    def terminate(self, channels: list[str], code: str, message: str) -> bytes:
        return self._finish(channels, "content_filter")

    def length_ending(self, channels: list[str], output_tokens: int | None) -> bytes:
        return self._finish(channels, "length")

    def _finish(self, channels: list[str], reason: str) -> bytes:
        choices = [self._choice(channel, None, reason) for channel in channels or ["0"]]
        return (
            encode_event(orjson.dumps({**self.template, "choices": choices})) + b"data: [DONE]\n\n"
        )


class OpenAIChatCodec(_OpenAIChoicesCodec):
    def _text_holder(self, choice: dict[str, Any]) -> dict[str, Any] | None:
        delta = choice.get("delta")
        return delta if isinstance(delta, dict) else None

    def generated(self, name: str | None, data: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for choice in data.get("choices") or ():
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("refusal"), str):
                out.append(delta["refusal"])
            calls = delta.get("tool_calls")
            functions = [c.get("function") for c in calls if isinstance(c, dict)] if calls else []
            functions.append(delta.get("function_call"))  # the legacy single function call
            out += [
                f["arguments"]
                for f in functions
                if isinstance(f, dict) and isinstance(f.get("arguments"), str) and f["arguments"]
            ]
        return out

    def _choice(self, channel: str, text: str | None, finish: str | None) -> dict[str, Any]:
        delta = {} if text is None else {"content": text}
        return {"index": int(channel), "delta": delta, "logprobs": None, "finish_reason": finish}

    def tool_deltas(self, name: str | None, data: dict[str, Any]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for choice, call in _chat_calls(data):
            channel = f"tool:{choice.get('index', 0)}:{call.get('index', 0)}"
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            if isinstance(function.get("name"), str):
                self.tool_names[channel] = function["name"]
            arguments = function.get("arguments")
            out.append((channel, arguments if isinstance(arguments, str) else ""))
        return out

    def set_tool_delta(self, data: dict[str, Any], channel: str, text: str) -> None:
        for choice, call in _chat_calls(data):
            if f"tool:{choice.get('index', 0)}:{call.get('index', 0)}" == channel:
                function = call.setdefault("function", {})
                if isinstance(function, dict):
                    function["arguments"] = text

    def tool_flush_event(self, channel: str, text: str) -> bytes:
        _, choice, call = channel.split(":")
        delta = {"tool_calls": [{"index": int(call), "function": {"arguments": text}}]}
        event = {
            **self.template,
            "choices": [
                {"index": int(choice), "delta": delta, "logprobs": None, "finish_reason": None}
            ],
        }
        return encode_event(orjson.dumps(event))


def _chat_calls(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(choice, tool-call delta) pairs of one chat chunk."""
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for choice in data.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        if isinstance(calls, list):
            out += [(choice, call) for call in calls if isinstance(call, dict)]
    return out


class OpenAICompletionsCodec(_OpenAIChoicesCodec):
    channel_key = "text"

    def _text_holder(self, choice: dict[str, Any]) -> dict[str, Any] | None:
        return choice

    def _choice(self, channel: str, text: str | None, finish: str | None) -> dict[str, Any]:
        return {
            "index": int(channel),
            "text": text or "",
            "logprobs": None,
            "finish_reason": finish,
        }


class OpenAIResponsesCodec(StreamCodec):
    """Responses API: typed events; text in ``response.output_text.delta``."""

    def __init__(self) -> None:
        super().__init__()
        self._items: dict[str, str] = {}
        self._sequence = 0

    def observe(self, name: str | None, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if isinstance(data.get("sequence_number"), int):
            self._sequence = data["sequence_number"]
        if kind == "response.created" and isinstance(data.get("response"), dict):
            self.template = data["response"]
        if kind == "response.output_text.delta":
            self._items[_channel(data)] = str(data.get("item_id", ""))
        if kind in ("response.completed", "response.incomplete"):
            usage = (data.get("response") or {}).get("usage")
            if isinstance(usage, dict):
                inp, out = usage.get("input_tokens"), usage.get("output_tokens")
                if isinstance(inp, int) and isinstance(out, int):
                    self.usage = Usage(inp, out)

    def deltas(self, name: str | None, data: dict[str, Any]) -> list[tuple[str, str]]:
        if data.get("type") == "response.output_text.delta":
            text = data.get("delta")
            if isinstance(text, str) and text:
                return [(_channel(data), text)]
        return []

    def generated(self, name: str | None, data: dict[str, Any]) -> list[str]:
        if data.get("type") in _GENERATED_DELTAS and isinstance(data.get("delta"), str):
            return [data["delta"]]
        return []

    def set_delta(self, data: dict[str, Any], channel: str, text: str) -> None:
        data["delta"] = text

    def tool_deltas(self, name: str | None, data: dict[str, Any]) -> list[tuple[str, str]]:
        kind = data.get("type")
        channel = f"tool:{data.get('output_index', 0)}:0"
        if kind == "response.output_item.added":
            item = data.get("item")
            if not isinstance(item, dict) or item.get("type") != "function_call":
                return []
            self.tool_names[channel] = str(item.get("name", ""))
            self._items[channel] = str(item.get("id", ""))
            arguments = item.get("arguments")
            return [(channel, arguments if isinstance(arguments, str) else "")]
        if kind == "response.function_call_arguments.delta" and isinstance(data.get("delta"), str):
            return [(channel, data["delta"])]
        return []

    def set_tool_delta(self, data: dict[str, Any], channel: str, text: str) -> None:
        if data.get("type") == "response.output_item.added":
            data["item"]["arguments"] = text
        else:
            data["delta"] = text

    def tool_flush_event(self, channel: str, text: str) -> bytes:
        event = {
            "type": "response.function_call_arguments.delta",
            "item_id": self._items.get(channel, ""),
            "output_index": int(channel.split(":")[1]),
            "delta": text,
            "sequence_number": self._sequence,
        }
        return encode_event(orjson.dumps(event), "response.function_call_arguments.delta")

    def tool_ends(self, name: str | None, data: dict[str, Any]) -> list[str]:
        if data.get("type") in (
            "response.function_call_arguments.done",
            "response.output_item.done",
        ):
            return [str(data.get("output_index", 0))]
        return []

    def ends(self, name: str | None, data: dict[str, Any]) -> list[str]:
        return [_channel(data)] if data.get("type") == "response.output_text.done" else []

    def is_done(self, name: str | None, data: dict[str, Any]) -> bool:
        return data.get("type") in ("response.completed", "response.incomplete", "response.failed")

    def flush_event(self, channel: str, text: str) -> bytes:
        output_index, content_index = (int(x) for x in channel.split(":"))
        event = {
            "type": "response.output_text.delta",
            "item_id": self._items.get(channel, ""),
            "output_index": output_index,
            "content_index": content_index,
            "delta": text,
            "logprobs": [],
            "sequence_number": self._sequence,
        }
        return encode_event(orjson.dumps(event), "response.output_text.delta")

    def finalize(
        self, name: str | None, data: dict[str, Any], emitted_text: Callable[[], dict[str, str]]
    ) -> bool:
        kind = data.get("type")
        if kind not in _CLOSING:
            return False
        emitted = emitted_text()
        changed = False
        if kind == "response.output_text.done" and _channel(data) in emitted:
            data["text"] = emitted[_channel(data)]
            changed = True
        elif kind == "response.content_part.done" and _channel(data) in emitted:
            part = data.get("part")
            if isinstance(part, dict) and part.get("type") == "output_text":
                part["text"] = emitted[_channel(data)]
                changed = True
        elif kind == "response.output_item.done":
            changed = _rewrite_item(data.get("item"), data.get("output_index", 0), emitted)
        elif kind in ("response.completed", "response.incomplete"):
            for index, item in enumerate((data.get("response") or {}).get("output") or ()):
                changed = _rewrite_item(item, index, emitted) or changed
        return changed

    def terminate(self, channels: list[str], code: str, message: str) -> bytes:
        return self._incomplete("content_filter")

    def length_ending(self, channels: list[str], output_tokens: int | None) -> bytes:
        return self._incomplete("max_output_tokens")

    def _incomplete(self, reason: str) -> bytes:
        response = {
            **self.template,
            "status": "incomplete",
            "incomplete_details": {"reason": reason},
        }
        event = {
            "type": "response.incomplete",
            "response": response,
            "sequence_number": self._sequence + 1,
        }
        return encode_event(orjson.dumps(event), "response.incomplete")

    def error_event(self, code: str, message: str) -> bytes:
        event = {
            "type": "error",
            "code": code,
            "message": message,
            "param": None,
            "sequence_number": self._sequence + 1,
        }
        return encode_event(orjson.dumps(event), "error")


_GENERATED_DELTAS = frozenset({"response.function_call_arguments.delta", "response.refusal.delta"})
_CLOSING = frozenset(
    {
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
        "response.incomplete",
    }
)


def _channel(data: dict[str, Any]) -> str:
    return f"{data.get('output_index', 0)}:{data.get('content_index', 0)}"


def _rewrite_item(item: Any, output_index: Any, emitted: dict[str, str]) -> bool:
    if not isinstance(item, dict) or item.get("type") != "message":
        return False
    changed = False
    for content_index, content in enumerate(item.get("content") or ()):
        channel = f"{output_index}:{content_index}"
        if (
            channel in emitted
            and isinstance(content, dict)
            and content.get("type") == "output_text"
        ):
            content["text"] = emitted[channel]
            changed = True
    return changed


class AnthropicMessagesCodec(StreamCodec):
    """Anthropic Messages: ``content_block_delta`` events with ``text_delta``."""

    def __init__(self) -> None:
        super().__init__()
        self._open: set[int] = set()  # content blocks started and not yet stopped

    def observe(self, name: str | None, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "content_block_start" and isinstance(data.get("index"), int):
            self._open.add(data["index"])
        elif kind == "content_block_stop":
            self._open.discard(data.get("index"))
        elif kind == "message_start":
            usage = (data.get("message") or {}).get("usage") or {}
            self.usage = Usage(
                int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
            )
        elif kind == "message_delta":
            output = (data.get("usage") or {}).get("output_tokens")
            if isinstance(output, int):
                self.usage = Usage(self.usage.input_tokens if self.usage else 0, output)

    def deltas(self, name: str | None, data: dict[str, Any]) -> list[tuple[str, str]]:
        if data.get("type") == "content_block_delta":
            delta = data.get("delta") or {}
            if (
                delta.get("type") == "text_delta"
                and isinstance(delta.get("text"), str)
                and delta["text"]
            ):
                return [(str(data.get("index", 0)), delta["text"])]
        return []

    def generated(self, name: str | None, data: dict[str, Any]) -> list[str]:
        if data.get("type") == "content_block_delta":
            delta = data.get("delta") or {}
            field = _ANTHROPIC_GENERATED.get(str(delta.get("type")))
            if field is not None and isinstance(delta.get(field), str):
                return [delta[field]]
        return []

    def set_delta(self, data: dict[str, Any], channel: str, text: str) -> None:
        data["delta"]["text"] = text

    def tool_deltas(self, name: str | None, data: dict[str, Any]) -> list[tuple[str, str]]:
        kind = data.get("type")
        channel = f"tool:{data.get('index', 0)}:0"
        if kind == "content_block_start":
            block = data.get("content_block")
            if isinstance(block, dict) and block.get("type") == "tool_use":
                self.tool_names[channel] = str(block.get("name", ""))
                return [(channel, "")]
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "input_json_delta" and isinstance(
                delta.get("partial_json"), str
            ):
                return [(channel, delta["partial_json"])]
        return []

    def set_tool_delta(self, data: dict[str, Any], channel: str, text: str) -> None:
        if data.get("type") == "content_block_delta":
            data["delta"]["partial_json"] = text

    def tool_flush_event(self, channel: str, text: str) -> bytes:
        event = {
            "type": "content_block_delta",
            "index": int(channel.split(":")[1]),
            "delta": {"type": "input_json_delta", "partial_json": text},
        }
        return encode_event(orjson.dumps(event), "content_block_delta")

    def ends(self, name: str | None, data: dict[str, Any]) -> list[str]:
        return [str(data.get("index", 0))] if data.get("type") == "content_block_stop" else []

    def is_done(self, name: str | None, data: dict[str, Any]) -> bool:
        return data.get("type") == "message_stop"

    def flush_event(self, channel: str, text: str) -> bytes:
        event = {
            "type": "content_block_delta",
            "index": int(channel),
            "delta": {"type": "text_delta", "text": text},
        }
        return encode_event(orjson.dumps(event), "content_block_delta")

    def terminate(self, channels: list[str], code: str, message: str) -> bytes:
        return self._error("invalid_request_error", message)

    def length_ending(self, channels: list[str], output_tokens: int | None) -> bytes:
        # as at max_tokens: open blocks stop, then message_delta (stop_reason, usage), message_stop
        events = [
            encode_event(
                orjson.dumps({"type": "content_block_stop", "index": index}), "content_block_stop"
            )
            for index in sorted(self._open)
        ]
        if output_tokens is None:
            output_tokens = self.usage.output_tokens if self.usage is not None else 0
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        }
        events.append(encode_event(orjson.dumps(delta), "message_delta"))
        events.append(encode_event(b'{"type":"message_stop"}', "message_stop"))
        return b"".join(events)

    def error_event(self, code: str, message: str) -> bytes:
        return self._error("api_error", message)

    def _error(self, kind: str, message: str) -> bytes:
        event = {"type": "error", "error": {"type": kind, "message": message}}
        return encode_event(orjson.dumps(event), "error")


_ANTHROPIC_GENERATED = {"input_json_delta": "partial_json", "thinking_delta": "thinking"}


def codec_for(wire: WireFormat, endpoint: Endpoint) -> StreamCodec:
    if wire is WireFormat.ANTHROPIC:
        return AnthropicMessagesCodec()
    if endpoint is Endpoint.RESPONSES:
        return OpenAIResponsesCodec()
    if endpoint is Endpoint.COMPLETIONS:
        return OpenAICompletionsCodec()
    return OpenAIChatCodec()
