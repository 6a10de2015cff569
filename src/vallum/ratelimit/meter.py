"""A stream's output tokens, counted piece by piece as it passes, against the room it has.

Each piece is counted once, when it arrives: the work per chunk depends on that chunk
only, never on the text before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vallum.ratelimit.spec import Charge, CounterState, Measure

__all__ = ["StreamMeter", "output_room"]

_OUTPUT_MEASURES = (Measure.OUTPUT_TOKENS, Measure.TOTAL_TOKENS)


def output_room(
    charges: Sequence[Charge], states: Sequence[CounterState], reserved_output: int
) -> int | None:
    """Output tokens a call may use under its output and total token limits, as known at
    its reserve: what it reserved plus the tightest such limit's room left after the
    reserve (room granted later, by settles or the window sliding, is not added).
    ``None``: no such limit applies."""
    rooms = [
        reserved_output + state.remaining
        for charge, state in zip(charges, states, strict=True)
        if charge.limit.measure in _OUTPUT_MEASURES
    ]
    return min(rooms) if rooms else None


class StreamMeter:
    """Output tokens of one stream and the room its token limits left it at reserve time.

    With a BPE ``encoding`` each piece is encoded on its own (OpenAI streams send about a
    token per delta, so the sum matches the whole text's count; a token split across two
    deltas counts twice). Without one, the documented estimate ``ceil(utf8_bytes / 4)``
    of the output so far, kept as a running byte count.
    """

    __slots__ = ("_bytes", "_encoding", "cut", "room", "seen", "tokens")

    def __init__(self, room: int, encoding: Any | None) -> None:
        self.room = room
        self.tokens = 0
        self.seen = 0  # pieces of exchange.streamed_text counted so far
        self.cut = False  # the room ran out: the stream was ended at it
        self._encoding = encoding
        self._bytes = 0

    def add(self, piece: str) -> None:
        """Count a piece that went out whole (tool-call arguments are never cut)."""
        if self._encoding is not None:
            self.tokens += len(self._encoding.encode_ordinary(piece))
        else:
            self._bytes += len(piece.encode("utf-8", "surrogatepass"))
            self.tokens = -(-self._bytes // 4)

    def window(self, pieces: list[str], text: str) -> str | None:
        """A stream window's turn: count the pieces of output not seen yet, the last being
        the window's own delta (any before it, tool-call arguments, went out whole).
        ``None`` while the room lasts; else ``text`` cut where the room ends."""
        if self.cut or len(pieces) <= self.seen:
            return None
        self.catch_up(pieces, len(pieces) - 1)
        delta = pieces[-1]
        self.seen = len(pieces)
        kept = self.take(delta)
        if kept is None:
            return None
        return text[: max(0, len(text) - len(delta))] + kept

    def catch_up(self, pieces: list[str], end: int | None = None) -> None:
        """Count the pieces not seen yet, up to ``end`` (default: all of them — generated
        text after the last text delta)."""
        end = len(pieces) if end is None else end
        for index in range(self.seen, end):
            self.add(pieces[index])
        self.seen = end

    def take(self, piece: str) -> str | None:
        """Count ``piece``: ``None`` if it fits in the room; else the start of it that
        fits (possibly empty), counted up to the room, and the meter is ``cut``."""
        if self._encoding is not None:
            ids = self._encoding.encode_ordinary(piece)
            if self.tokens + len(ids) <= self.room:
                self.tokens += len(ids)
                return None
            keep = max(0, self.room - self.tokens)
            self.tokens += keep
            self.cut = True
            kept: str = self._encoding.decode_bytes(ids[:keep]).decode("utf-8", "ignore")
            return kept
        raw = piece.encode("utf-8", "surrogatepass")
        if -(-(self._bytes + len(raw)) // 4) <= self.room:
            self._bytes += len(raw)
            self.tokens = -(-self._bytes // 4)
            return None
        prefix = raw[: max(0, self.room * 4 - self._bytes)].decode("utf-8", "ignore")
        self._bytes += len(prefix.encode("utf-8", "surrogatepass"))
        self.tokens = -(-self._bytes // 4)
        self.cut = True
        return prefix
