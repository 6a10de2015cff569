"""The SSE parser: any split of the byte stream gives the same events."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vallum.pipeline.sse import SSEParser, encode_event

EVENTS = [
    b'data: {"a": 1}\n\n',
    b'event: content_block_delta\ndata: {"b": 2}\n\n',
    b": keep-alive comment\n\n",
    b"data: line one\ndata: line two\n\n",
    b"data: [DONE]\n\n",
]


def _parse_all(chunks: list[bytes]) -> list[tuple[str | None, bytes]]:
    parser = SSEParser()
    events = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return [(event.event, event.data) for event in events]


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def test_fields_are_parsed() -> None:
    events = _parse_all([b"".join(EVENTS)])
    assert events == [
        (None, b'{"a": 1}'),
        ("content_block_delta", b'{"b": 2}'),
        (None, b""),
        (None, b"line one\nline two"),
        (None, b"[DONE]"),
    ]


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40), st.booleans())
def test_any_split_gives_the_same_events(cuts: list[int], crlf: bool) -> None:
    stream = b"".join(EVENTS)
    if crlf:
        stream = stream.replace(b"\n", b"\r\n")
    assert _parse_all(_split(stream, cuts)) == _parse_all([b"".join(EVENTS)])


def test_trailing_event_without_blank_line_is_kept() -> None:
    assert _parse_all([b'data: {"x": 1}']) == [(None, b'{"x": 1}')]


def test_encode_event_round_trips() -> None:
    raw = encode_event(b'{"k": "v"}', "message_stop")
    assert _parse_all([raw]) == [("message_stop", b'{"k": "v"}')]
