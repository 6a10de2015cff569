"""Shared detector types: a ``Match`` (kind, span, score, who found it) and pattern recognizers."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "MAX_INPUT_CHARS",
    "Detection",
    "Match",
    "PatternRecognizer",
    "Recognizer",
    "Seeker",
    "TextIndex",
    "context_pattern",
    "in_tokens",
    "keyed_digest",
    "literal_starts",
    "match_at",
    "resolve_overlaps",
    "seek_digits",
]

MAX_INPUT_CHARS = 2_000_000  # detectors look at no more than this many characters of one text
CONTEXT_CHARS = 48  # how far before a candidate context words are looked for


def keyed_digest(value: str, key: bytes, length: int = 12) -> str:
    """A keyed HMAC-SHA256 of ``value``, hex, truncated: stable for one key, useless without it."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:length]


@dataclass(frozen=True, slots=True)
class Match:
    """One detected entity: ``text[start:end]`` is a ``kind`` with confidence ``score``."""

    kind: str
    start: int
    end: int
    score: float
    detector: str
    version: str

    @property
    def length(self) -> int:
        return self.end - self.start

    def redacted_detail(self, text: str, key: bytes) -> str:
        """Length and keyed hash of the matched value — never the value itself."""
        value = text[self.start : self.end]
        return f"len={len(value)} hmac={keyed_digest(value, key)}"


@dataclass(frozen=True, slots=True)
class Detection:
    """A detector run: the matches and whether the input was cut to the length cap."""

    matches: list[Match] = field(default_factory=list)
    truncated: bool = False


class Recognizer(Protocol):
    """One family of entities (emails, cards …): yields candidate matches for a text.

    ``index`` is the detector's one cheap pass over the text (digit runs, capitalised
    tokens, lower-cased copy), shared by every recognizer; without it the recognizer
    builds its own.
    """

    @property
    def kinds(self) -> frozenset[str]: ...

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]: ...


_DIGIT_RUN = re.compile(r"\d\d*")  # written so ``re`` can skip ahead with its charset scan
_CAP_TOKEN = re.compile(r"[A-ZÀ-ÖØ-Þ\u0100-\u017f][^\W\d_]*")
_SPACE = re.compile(r"\s")


class TextIndex:
    """The pre-filter: cheap facts about one text, each computed once, on first use.

    Recognizers ask it where a match could *start* (a digit run, a capitalised token,
    a literal) and try their full pattern only there, instead of at every character.
    """

    __slots__ = ("_caps", "_digits", "_lower", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._digits: list[int] | None = None
        self._caps: list[int] | None = None

    @property
    def lower(self) -> str:
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    def has_any(self, words: Sequence[str]) -> bool:
        """Whether any of the lower-case ``words`` occurs in the lower-cased text."""
        lower = self.lower
        return any(word in lower for word in words)

    @property
    def digit_starts(self) -> list[int]:
        """Starts of digit runs, plus the ``+`` or ``(`` right before one."""
        if self._digits is None:
            text = self.text
            starts: list[int] = []
            for found in _DIGIT_RUN.finditer(text):
                start = found.start()
                if start and text[start - 1] in "+(":
                    if start > 1 and text[start - 2 : start] == "+(":
                        starts.append(start - 2)
                    starts.append(start - 1)
                starts.append(start)
            self._digits = starts
        return self._digits

    @property
    def cap_starts(self) -> list[int]:
        """Starts of tokens that begin with an upper-case letter."""
        if self._caps is None:
            self._caps = [found.start() for found in _CAP_TOKEN.finditer(self.text)]
        return self._caps

    def token_bounds(self, pos: int, back: int) -> tuple[int, int]:
        """The whitespace-free run around ``pos`` (at most ``back`` characters before it)."""
        text = self.text
        floor = max(0, pos - back)
        lo = max(text.rfind(" ", floor, pos), text.rfind("\n", floor, pos), floor - 1) + 1
        space = _SPACE.search(text, pos)
        return lo, len(text) if space is None else space.start()


Seeker = Callable[[TextIndex], Iterable[int]]


def seek_digits(index: TextIndex) -> list[int]:
    """Candidate starts of numeric entities (cards, SSNs, phones, IPs)."""
    return index.digit_starts


def literal_starts(*literals: str, lower: bool = False) -> Seeker:
    """A seeker for the positions of fixed strings (searched lower-cased with ``lower``)."""

    def seek(index: TextIndex) -> list[int]:
        text = index.lower if lower else index.text
        if lower and len(text) != len(index.text):
            return list(range(len(index.text)))  # lower-casing moved offsets: try everywhere
        found: list[int] = []
        for literal in literals:
            pos = text.find(literal)
            while pos >= 0:
                found.append(pos)
                pos = text.find(literal, pos + 1)
        return sorted(set(found)) if len(literals) > 1 else found

    return seek


def match_at(pattern: re.Pattern[str], text: str, starts: Iterable[int]) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` restricted to matches that begin at one of ``starts`` (sorted).

    Same result as a full scan for a pattern whose every match begins at such a position:
    lookbehinds still see the real text before each start.
    """
    end = -1
    for pos in starts:
        if pos < end:
            continue
        found = pattern.match(text, pos)
        if found is not None:
            yield found
            end = max(found.end(), pos + 1)


def context_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """A case-insensitive alternation of context words (whole words only), or None."""
    items = sorted({w.lower() for w in words if w}, key=len, reverse=True)
    if not items:
        return None
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, items)) + r")(?![a-z0-9])")


Validator = Callable[[str], bool]


def in_tokens(
    pattern: re.Pattern[str], index: TextIndex, anchors: Sequence[str], back: int = 256
) -> Iterator[re.Match[str]]:
    """``pattern.finditer`` over the whitespace-free tokens that hold one of ``anchors``.

    Exact for a pattern whose matches contain an anchor and no whitespace: each such
    match lies inside the token, and the window ends where the real text has a space.
    """
    text = index.text
    end = 0
    for pos in literal_starts(*anchors)(index):
        if pos < end:
            continue
        lo, hi = index.token_bounds(pos, back)
        for found in pattern.finditer(text, max(lo, end), hi):
            yield found
            end = found.end()
        end = max(end, hi)


@dataclass(frozen=True, slots=True)
class PatternRecognizer:
    """A regex plus an optional validator and context words that raise the score.

    Without context the match scores ``score``; with a context word in the
    ``CONTEXT_CHARS`` before it, ``context_score``. ``needs_context`` drops matches
    that have none (weak patterns such as a bare 9-digit number).

    Speed: ``gate`` lists lower-case strings of which one must occur in the text for
    the recognizer to run at all (a provider prefix, the context words of a
    ``needs_context`` pattern); ``seek`` names the positions where a match can begin,
    so the pattern is tried there only rather than at every character.
    """

    kind: str
    pattern: re.Pattern[str]
    score: float
    name: str
    version: str = "1"
    validator: Validator | None = None
    context: re.Pattern[str] | None = None
    context_score: float = 0.95
    needs_context: bool = False
    group: int = 0
    veto: re.Pattern[str] | None = None  # context words that rule a match out ("version")
    gate: tuple[str, ...] = ()
    seek: Seeker | None = None
    around: tuple[str, ...] = ()  # literals every match contains and no whitespace

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset({self.kind})

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        if self.gate and not index.has_any(self.gate):
            return
        if self.seek is not None:
            candidates = match_at(self.pattern, text, self.seek(index))
        elif self.around:
            candidates = in_tokens(self.pattern, index, self.around)
        else:
            candidates = self.pattern.finditer(text)
        for found in candidates:
            start, end = found.span(self.group)
            if start < 0:
                continue
            value = text[start:end]
            if self.validator is not None and not self.validator(value):
                continue
            if self.veto is not None and has_context_before(text, start, self.veto, 24):
                continue
            has_context = self.context is not None and has_context_before(text, start, self.context)
            if self.needs_context and not has_context:
                continue
            score = self.context_score if has_context else self.score
            yield Match(self.kind, start, end, score, self.name, self.version)


def has_context_before(
    text: str, start: int, context: re.Pattern[str], distance: int = CONTEXT_CHARS
) -> bool:
    window = text[max(0, start - distance) : start].lower()
    return context.search(window) is not None


def resolve_overlaps(matches: Sequence[Match]) -> list[Match]:
    """Keep the best of overlapping matches (higher score, then longer), sorted by start.

    Greedy by rank within each run of mutually overlapping matches: the same result as
    one greedy pass over all matches, in O(n log n) rather than O(n²) for long texts.
    """
    kept: list[Match] = []
    group: list[Match] = []
    group_end = -1
    for match in sorted(matches, key=lambda m: (m.start, m.end)):
        if group and match.start >= group_end:
            kept += _greedy(group)
            group = []
        group.append(match)
        group_end = max(group_end, match.end) if len(group) > 1 else match.end
    kept += _greedy(group)
    kept.sort(key=lambda m: m.start)
    return kept


def _greedy(group: list[Match]) -> list[Match]:
    if len(group) < 2:
        return group
    ranked = sorted(group, key=lambda m: (-m.score, -(m.end - m.start), m.start))
    kept: list[Match] = []
    for match in ranked:
        if all(match.end <= other.start or match.start >= other.end for other in kept):
            kept.append(match)
    return kept
