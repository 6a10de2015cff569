"""The pre-filter shared by all detectors: cheap facts about one text, each computed once."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["LONG_TOKEN", "Span", "TextIndex"]

LONG_TOKEN = 15  # shortest whitespace-free token the secret pre-filter looks into

_DIGIT_RUN = re.compile(r"\d\d*")  # written so ``re`` can skip ahead with its charset scan
_UP = "A-ZÀ-ÖØ-Þ\u0100-\u017f"
_CAP_TOKEN = re.compile(rf"[{_UP}][^\W\d_]*")
# Runs of capitalised words: joined by one space, a hyphen or apostrophe, "&", a name
# particle ("Dyan van Gijn"), or the full stop of an initial or title ("Faina D. Yefremova").
_PARTICLES = "van|von|de|da|di|del|della|du|le|la|der|den|van de|van der|bin|ibn|al"


def _cap_run(up: str, letter: str) -> re.Pattern[str]:
    return re.compile(
        rf"[{up}]{letter}*(?:(?:[ \t]{{1,2}}(?=[{up}])|[\-'\u2019](?=[{up}])| & | (?:{_PARTICLES}) "
        # the full stop first, its look-behinds after: most word ends fail at once
        r"|\.(?:(?<=[^\w.][A-Z]\.)|(?<=Mr\.|Ms\.|Mx\.|Dr\.|Fr\.|St\.|Jr\.)"
        r"|(?<=Mrs\.|Rev\.)|(?<=Prof\.)) )"
        rf"[{up}]{letter}*)*"
    )


_CAP_RUN = _cap_run(_UP, r"[^\W\d_]")
# Numbers: digit runs joined by short separators ("+44 (0)20 7946-0958", "10.0.0.1").
_NUMBER = re.compile(r"\d\d*(?:[ \t().\-/+:]{1,3}\d\d*)*")
# The same two for ASCII text, where they match exactly the same ([^\W\d_] is [A-Za-z],
# ``\d`` is [0-9]) with fewer steps: plain character sets instead of Unicode categories.
_ASCII_CAP_RUN = _cap_run("A-Z", "[A-Za-z]")
_ASCII_NUMBER = re.compile(r"[0-9][0-9]*(?:[ \t().\-/+:]{1,3}[0-9][0-9]*)*")
_SPACE = re.compile(r"\s")
_DROP_DIGITS = str.maketrans("", "", "0123456789")

Span = tuple[int, int]


class TextIndex:
    """The pre-filter: cheap facts about one text, each computed once, on first use.

    Recognizers ask it where a match could *start* (a number, a run of capitalised
    words, a literal inside a long token) and try their full pattern only there,
    instead of at every character. Each fact is one compiled-regex pass.
    """

    __slots__ = (
        "_counted",
        "_digits",
        "_long",
        "_lower",
        "_numbers",
        "_per_number",
        "_present",
        "_runs",
        "_starts",
        "text",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._digits: list[int] | None = None
        self._numbers: list[Span] | None = None
        self._counted: list[tuple[int, int, int]] | None = None
        self._starts: dict[int, list[int]] = {}
        self._per_number: dict[int, list[int]] = {}
        self._runs: list[Span] | None = None
        self._long: list[Span] | None = None
        self._present: dict[str, bool] = {}  # has_any's verdict per word

    @property
    def lower(self) -> str:
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    def has_any(self, words: Sequence[str]) -> bool:
        """Whether any of the lower-case ``words`` occurs in the lower-cased text.

        Each word's verdict is kept: several recognizers gate on the same words, and on a
        long text each absent word costs a scan of all of it."""
        lower, present = self.lower, self._present
        for word in words:
            hit = present.get(word)
            if hit is None:
                hit = present[word] = word in lower
            if hit:
                return True
        return False

    @property
    def numbers(self) -> list[Span]:
        """Spans of the numbers: digit runs joined by short separators."""
        if self._numbers is None:
            pattern = _ASCII_NUMBER if self.text.isascii() else _NUMBER
            self._numbers = [m.span() for m in pattern.finditer(self.text)]
        return self._numbers

    @property
    def cluster_starts(self) -> list[int]:
        """The first digit of each number (a house number, a phone's first group)."""
        return [start for start, _ in self.numbers]

    def numeric_starts(self, min_digits: int) -> list[int]:
        """Where a numeric entity can begin inside numbers of at least ``min_digits``
        digits (a card needs 12, an SSN 9, a phone 7): each digit run, and a ``+`` or
        ``(`` right before the number."""
        cached = self._starts.get(min_digits)
        if cached is not None:
            return cached
        if self._counted is None:
            text, drop = self.text, _DROP_DIGITS  # translate(drop) leaves the separators
            self._counted = [
                (start, end, end - start - len(text[start:end].translate(drop)))
                if end - start >= 7
                else (start, end, end - start)  # short: the length bounds the digit count
                for start, end in self.numbers
            ]
        out: list[int] = []
        # one list per number, shared by the thresholds (card, SSN, phone, every digit run)
        per_number = self._per_number
        for k, (start, end, digits) in enumerate(self._counted):
            if digits >= min_digits:
                starts = per_number.get(k)
                if starts is None:
                    starts = per_number[k] = self.numeric_starts_in(start, end)
                out += starts
        self._starts[min_digits] = out
        return out

    def numeric_starts_in(self, start: int, end: int) -> list[int]:
        """The digit-run starts of one number, and a ``+`` or ``(`` right before it."""
        text = self.text
        out: list[int] = []
        if start and text[start - 1] in "+(":
            if start > 1 and text[start - 2 : start] == "+(":
                out.append(start - 2)
            out.append(start - 1)
        if text[start:end].isdecimal():  # one digit run (``\d`` is what isdecimal accepts)
            out.append(start)
        else:
            out += [m.start() for m in _DIGIT_RUN.finditer(text, start, end)]
        return out

    @property
    def digit_starts(self) -> list[int]:
        """Every digit run's start (for the rarer recognizers that need them all)."""
        if self._digits is None:
            self._digits = self.numeric_starts(1)
        return self._digits

    @property
    def cap_runs(self) -> list[Span]:
        """Spans of runs of capitalised words ("Dr Faina D. Yefremova", "Vazquez-Riggs")."""
        if self._runs is None:
            pattern = _ASCII_CAP_RUN if self.text.isascii() else _CAP_RUN
            self._runs = [m.span() for m in pattern.finditer(self.text)]
        return self._runs

    def run_tokens(self, span: Span) -> list[Span]:
        """The capitalised tokens of one run."""
        return [m.span() for m in _CAP_TOKEN.finditer(self.text, span[0], span[1])]

    def cap_starts_between(self, lo: int, hi: int) -> list[int]:
        return [m.start() for m in _CAP_TOKEN.finditer(self.text, max(0, lo), hi)]

    @property
    def long_tokens(self) -> list[Span]:
        """Spans of whitespace-free tokens of 15+ characters (where keys and URLs are).

        ``str.split`` runs in C; only the few long tokens are then located.
        """
        if self._long is None:
            text = self.text
            spans: list[Span] = []
            cursor = 0
            for token in text.split():
                if len(token) >= LONG_TOKEN:
                    start = text.find(token, cursor)
                    cursor = start + len(token)
                    spans.append((start, cursor))
            self._long = spans
        return self._long

    def with_long_tokens(self, spans: list[Span]) -> TextIndex:
        """The same index, but with ``long_tokens`` narrowed to ``spans``."""
        view = TextIndex(self.text)
        view._lower, view._numbers, view._runs, view._long, view._present = (
            self._lower,
            self._numbers,
            self._runs,
            spans,
            self._present,
        )
        return view

    def token_bounds(self, pos: int, back: int) -> tuple[int, int]:
        """The whitespace-free run around ``pos`` (at most ``back`` characters before it)."""
        text = self.text
        floor = max(0, pos - back)
        lo = max(text.rfind(" ", floor, pos), text.rfind("\n", floor, pos), floor - 1) + 1
        space = _SPACE.search(text, pos)
        return lo, len(text) if space is None else space.start()
