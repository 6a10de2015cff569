"""Pattern recognizers: a regex with a validator, context words and pre-filters."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from vallum.detectors.base import Match
from vallum.detectors.textindex import TextIndex

__all__ = [
    "CONTEXT_CHARS",
    "CONTEXT_REACH",
    "PatternRecognizer",
    "Seeker",
    "TokenGated",
    "Validator",
    "context_pattern",
    "context_window",
    "has_context_before",
    "in_tokens",
    "literal_starts",
    "match_at",
    "near",
    "seek_digits",
    "seek_numeric",
]

CONTEXT_CHARS = 48  # how far before a candidate context words are looked for
CONTEXT_REACH = CONTEXT_CHARS + 64  # from a context word to the end of the windows scanned

_SPACE = re.compile(r"\s")


Seeker = Callable[[TextIndex], Iterable[int]]


def seek_digits(index: TextIndex) -> list[int]:
    """Candidate starts of numeric entities (cards, SSNs, phones, IPs)."""
    return index.digit_starts


def seek_numeric(min_digits: int) -> Seeker:
    """Digit-run starts in numeric clusters of at least ``min_digits`` digits."""

    def seek(index: TextIndex) -> list[int]:
        return index.numeric_starts(min_digits)

    return seek


def literal_starts(*literals: str, lower: bool = False, in_tokens: bool = False) -> Seeker:
    """A seeker for the positions of fixed strings (searched lower-cased with ``lower``;
    only inside the index's long tokens with ``in_tokens``)."""
    if in_tokens:
        return _token_literals(literals)
    anycase = re.compile("|".join(map(re.escape, literals)), re.IGNORECASE)

    def seek(index: TextIndex) -> list[int]:
        text = index.lower if lower else index.text
        if lower and len(text) != len(index.text):
            # lower-casing moved offsets ("İ" → "i̇"): search the original text instead
            return [m.start() for m in anycase.finditer(index.text)]
        found: list[int] = []
        for literal in literals:
            pos = text.find(literal)
            while pos >= 0:
                found.append(pos)
                pos = text.find(literal, pos + 1)
        return sorted(set(found)) if len(literals) > 1 else found

    return seek


def _token_literals(literals: Sequence[str]) -> Seeker:
    def seek(index: TextIndex) -> list[int]:
        text = index.text
        found: list[int] = []
        for lo, hi in index.long_tokens:
            for literal in literals:
                pos = text.find(literal, lo, hi)
                while pos >= 0:
                    found.append(pos)
                    pos = text.find(literal, pos + 1, hi)
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
    # The boundary is a consumed non-alphanumeric character rather than a lookbehind, so
    # ``re`` can skip ahead with its first-character scan; callers search " " + window.
    return re.compile(r"[^a-z0-9](?:" + "|".join(map(re.escape, items)) + r")(?![a-z0-9])")


Validator = Callable[[str], bool]


def in_tokens(
    pattern: re.Pattern[str], index: TextIndex, anchors: Iterable[int], back: int = 256
) -> Iterator[re.Match[str]]:
    """``pattern.finditer`` over the whitespace-free tokens around the ``anchors``
    positions (sorted).

    Exact for a pattern whose matches contain an anchor and no whitespace: each such
    match lies inside the token, and the window ends where the real text has a space.
    """
    text = index.text
    end = 0
    for pos in anchors:
        if pos < end:
            continue
        lo, hi = index.token_bounds(pos, back)
        for found in pattern.finditer(text, max(lo, end), hi):
            yield found
            end = found.end()
        end = max(end, hi)


def near(
    pattern: re.Pattern[str], index: TextIndex, words: Sequence[str], reach: int
) -> Iterator[re.Match[str]]:
    """``pattern.finditer`` in the windows that start at a (lower-case) context word and
    run ``reach`` characters on, to the next space: for patterns that need a context
    word before them, the rest of a long text is never scanned."""
    text, lower = index.text, index.lower
    if len(lower) != len(text):
        yield from pattern.finditer(text)
        return
    windows = sorted((pos, pos + reach) for pos in literal_starts(*words, lower=True)(index))
    end = 0
    for lo, hi in windows:
        if hi <= end:
            continue
        space = _SPACE.search(text, hi + 48)  # a match begun inside the window ends by then
        stop = len(text) if space is None else space.start()
        for found in pattern.finditer(text, max(lo, end), stop):
            yield found
            end = found.end()
        end = max(end, stop)


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
    around: tuple[str, ...] = ()  # literals every match contains, and no whitespace
    trigger: re.Pattern[str] | None = None  # or a pattern each match contains a hit of
    reach: int = 0  # with ``gate``: matches lie within this many characters after a gate word

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset({self.kind})

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        for found in self._candidates(text, index):
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

    def _candidates(self, text: str, index: TextIndex) -> Iterable[re.Match[str]]:
        if self.seek is not None:
            # where a match can begin first: cached in the index and often none, which
            # spares the gate's scan of the whole text for its words
            starts = self.seek(index)
            if not starts or (self.gate and not index.has_any(self.gate)):
                return ()
            return match_at(self.pattern, text, starts)
        if self.gate and not index.has_any(self.gate):
            return ()
        if self.around:
            return in_tokens(self.pattern, index, literal_starts(*self.around)(index))
        if self.trigger is not None:
            hits = (m.start() for m in self.trigger.finditer(text))
            return in_tokens(self.pattern, index, hits)
        if self.reach and self.gate:
            return near(self.pattern, index, self.gate, self.reach)
        return self.pattern.finditer(text)


@dataclass(frozen=True, slots=True)
class TokenGated:
    """Recognizers whose every match lies inside one whitespace-free token of at least
    ``LONG_TOKEN`` characters (provider API keys): all skipped at once when the text has
    no such token, which is most replies."""

    members: tuple[PatternRecognizer, ...]
    trigger: re.Pattern[str] | None = None  # one of the members' literals, if known

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(kind for member in self.members for kind in member.kinds)

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        tokens = index.long_tokens
        if not tokens:
            return
        trigger = self.trigger
        if trigger is not None:
            tokens = [(lo, hi) for lo, hi in tokens if trigger.search(text, lo, hi)]
            if not tokens:
                return
            index = index.with_long_tokens(tokens)
        for member in self.members:
            yield from member.find(text, index)


def has_context_before(
    text: str, start: int, context: re.Pattern[str], distance: int = CONTEXT_CHARS
) -> bool:
    return context.search(context_window(text, start, distance)) is not None


def context_window(text: str, start: int, distance: int = CONTEXT_CHARS) -> str:
    """The lower-cased ``distance`` characters before ``start``, led by the character just
    before them (or a space at the text start): a ``context_pattern`` then never takes
    the tail of a cut word ("…ver" of "over") for a whole one."""
    lo = start - distance
    if lo <= 0:
        return " " + text[:start].lower()
    return text[lo - 1 : start].lower()
