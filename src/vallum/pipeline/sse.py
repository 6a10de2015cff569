"""Incremental Server-Sent Events parsing: bytes in any split, whole events out, parsed once."""

from __future__ import annotations

from dataclasses import dataclass

from vallum.errors import UpstreamError

__all__ = ["SSEEvent", "SSEParser", "encode_event"]


@dataclass(slots=True)
class SSEEvent:
    """One event: its raw bytes (forwarded untouched unless edited), name and data."""

    raw: bytes
    event: str | None
    data: bytes


class SSEParser:
    """Split a byte stream into events; the split of the input never changes the output."""

    __slots__ = ("_buffer", "_max_event", "_pending_cr")

    def __init__(self, max_event_bytes: int = 4 * 1024 * 1024) -> None:
        self._buffer = b""
        self._pending_cr = b""
        self._max_event = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += self._normalize(chunk)
        return self._split()

    def feed_matching(self, chunk: bytes, markers: tuple[bytes, ...]) -> list[SSEEvent]:
        """Like ``feed``, but only events whose bytes contain one of ``markers`` come out.

        The cheap path for pass-through streams: complete events are found with one
        ``rfind`` and scanned for the markers in C; only a run holding one is parsed.
        """
        buffer = self._buffer + self._normalize(chunk)
        end = buffer.rfind(b"\n\n")
        if end < 0 or not any(marker in buffer for marker in markers):
            if end >= 0:
                buffer = buffer[end + 2 :]
            self._buffer = buffer
            self._check_size()
            return []
        self._buffer = buffer
        return [e for e in self._split() if any(marker in e.raw for marker in markers)]

    def _normalize(self, chunk: bytes) -> bytes:
        data = self._pending_cr + chunk if self._pending_cr else chunk
        self._pending_cr = b""
        if b"\r" in data:
            if data.endswith(b"\r"):  # may be the first half of a CRLF split across chunks
                data, self._pending_cr = data[:-1], b"\r"
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return data

    def _check_size(self) -> None:
        if len(self._buffer) > self._max_event:
            raise UpstreamError(
                "The upstream sent an oversized stream event.", code="upstream_bad_stream"
            )

    def _split(self) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        buffer = self._buffer
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            raw = buffer[start : end + 2]
            start = end + 2
            events.append(_parse(raw))
        self._buffer = buffer[start:]
        self._check_size()
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: a final event without its blank line still counts."""
        rest = self._buffer.rstrip(b"\n")
        self._buffer = self._pending_cr = b""
        if not rest:
            return []
        return [_parse(rest + b"\n\n")]


def _parse(raw: bytes) -> SSEEvent:
    name: str | None = None
    data_lines: list[bytes] = []
    for line in raw.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data_lines.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data_lines and name is None:
        # Comments and keep-alives: forwarded as they are, carry no data.
        return SSEEvent(raw=raw, event=None, data=b"")
    return SSEEvent(raw=raw, event=name, data=b"\n".join(data_lines))


def encode_event(data: bytes, event: str | None = None) -> bytes:
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
