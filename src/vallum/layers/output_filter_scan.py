"""The output filter's scanner: detection, decisions on stream windows, and leak checks.

A stream window is decided like this (``n`` = window length, ``L`` = look-behind,
``M`` = growth margin): a match is *final* when it ends at least ``M`` characters before
the window end; the text up to ``n - L`` may be released, but never through a match that
is not final or that straddles the cut — then the cut moves back to the match start and
``hold_from`` tells the pipeline. Only the released prefix is edited, so held text is
always original text, and the ``context`` carried per channel gives later windows the
words in front of them. Cost per window is bounded by the window, not by the stream.

A window is scanned only when that can release text (it is longer than the look-behind) and,
after a channel's first release, once ``scan_every`` characters have arrived since its last
scan; otherwise all of it stays held. Skipping is exact: a window too short to release
anything gives the same answer unscanned, and holding a delta is the same as receiving it
joined to the next one — a different chunk split, for which streamed equals buffered too.

Pseudonym restore: placeholders the input guard put in the request (``Restorer``) are
found first; detector matches that overlap one are dropped, and each placeholder is
replaced by its original in the same edit, so a restored value is never redacted again.
A placeholder never straddles the cut (the cut moves to its start).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vallum.detectors.base import Detector, Match, Passes, Source, resolve_overlaps
from vallum.detectors.operators import Operator, OperatorState, replacement, splice

__all__ = ["ChannelState", "Restorer", "Scanner", "WindowResult", "ngram_hits", "ngram_set"]

CONTEXT_KEEP = 64  # released characters kept as context for the next window
_OPEN_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----")
_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class ChannelState:
    context: str = ""
    leak_hits: set[int] = field(default_factory=set)
    content_tail: str = ""  # the last released characters, for the content classifier
    content_since: int = 0  # characters released since the last classification
    held: int = 0  # characters this scanner left held at its last scan


_RESTORE = "PSEUDONYM_RESTORE"


@dataclass(frozen=True, slots=True)
class Restorer:
    """Placeholder -> original of one request (``exchange.pseudonyms``)."""

    pseudonyms: Mapping[str, str]
    pattern: re.Pattern[str] | None
    longest: int

    @classmethod
    def build(cls, pseudonyms: Mapping[str, str]) -> Restorer:
        keys = sorted((k for k in pseudonyms if k), key=lambda k: (-len(k), k))
        if not keys:
            return cls({}, None, 0)
        pattern = re.compile("|".join(re.escape(k) for k in keys))
        return cls(dict(pseudonyms), pattern, len(keys[0]))

    def spans(self, text: str) -> list[Match]:
        if self.pattern is None:
            return []
        return [
            Match(_RESTORE, m.start(), m.end(), 1.0, "restore", "1")
            for m in self.pattern.finditer(text)
        ]


_NO_RESTORE = Restorer({}, None, 0)


@dataclass(frozen=True, slots=True)
class WindowResult:
    text: str
    hold_from: int | None
    applied: list[Match]  # matches acted on, with spans relative to the window
    blocked: Match | None = None


@dataclass(slots=True)
class Scanner:
    detectors: tuple[Detector, ...]  # span detectors (PII, secrets), each through the contract
    actions: dict[str, Operator]
    default_action: Operator
    lookbehind: int
    margin: int
    scan_every: int = 1

    def due(self, window: str, channel: ChannelState, longest: int) -> bool:
        """Whether a stream window is worth scanning now (see the module docstring)."""
        size = len(window)
        if size <= max(self.lookbehind, longest):
            return False  # the cut would be 0: nothing can be released
        return size - channel.held >= self.scan_every

    def detect(self, text: str) -> list[Match]:
        passes = Passes(text)  # one pre-filter pass, shared by the detectors
        found = [
            match
            for detector in self.detectors
            for match in detector.inspect(text, Source.ASSISTANT, passes).matches
        ]
        return resolve_overlaps(found) if len(self.detectors) > 1 else found

    def split(self, text: str, restorer: Restorer) -> tuple[list[Match], list[Match], list[Match]]:
        """All detector matches, those not overlapping a placeholder, and the placeholders."""
        found = self.detect(text)
        restores = restorer.spans(text)
        if not restores:
            return found, found, restores
        kept = [m for m in found if not any(_overlap(m, r) for r in restores)]
        return found, kept, restores

    def action(self, kind: str) -> Operator:
        return self.actions.get(kind, self.default_action)

    def edit(
        self,
        text: str,
        matches: Sequence[Match],
        state: OperatorState,
        restores: Sequence[Match] = (),
        restorer: Restorer = _NO_RESTORE,
    ) -> str:
        """Apply each match's operator (block matches are left for the caller) and restore
        each placeholder (``restores``, not overlapping ``matches``) to its original."""

        def replace(match: Match, value: str) -> str:
            if match.kind == _RESTORE and match.detector == "restore":
                return restorer.pseudonyms.get(value, value)
            return replacement(value, match.kind, self.action(match.kind), state)

        return splice(text, [*matches, *restores] if restores else matches, replace)

    def window(
        self,
        window: str,
        channel: ChannelState,
        state: OperatorState,
        final: bool,
        restorer: Restorer = _NO_RESTORE,
    ) -> WindowResult:
        prefix = channel.context
        offset = len(prefix)
        found, kept, _ = self.split(prefix + window, restorer)
        matches = [_shift(m, -offset) for m in found if m.start >= offset]
        restores = restorer.spans(window)
        n = len(window)
        cut = n if final else self._cut(window, matches, restores, restorer.longest)
        kept_here = {(m.start - offset, m.end - offset, m.kind) for m in kept}
        applied = [m for m in matches if m.end <= cut and (m.start, m.end, m.kind) in kept_here]
        restored = [r for r in restores if r.end <= cut]
        blocked = next((m for m in applied if self.action(m.kind) is Operator.BLOCK), None)
        released = self.edit(window[:cut], applied, state, restored, restorer)
        channel.context = (prefix + window[:cut])[-CONTEXT_KEEP:]
        channel.held = n - cut
        return WindowResult(
            released + window[cut:], None if final else len(released), applied, blocked
        )

    def _cut(self, window: str, matches: list[Match], restores: list[Match], longest: int) -> int:
        n = len(window)
        cut = max(0, n - max(self.lookbehind, longest))
        pem = _OPEN_PEM.search(window)
        if pem is not None and "-----END" not in window[pem.end() :]:
            cut = min(cut, pem.start())
        changed = True
        while changed:
            changed = False
            for match in matches:
                growing = match.end > n - self.margin
                if match.start < cut and (growing or match.end > cut):
                    cut = match.start
                    changed = True
            for span in restores:
                if span.start < cut < span.end:
                    cut = span.start
                    changed = True
        return cut


def _shift(match: Match, by: int) -> Match:
    return Match(
        match.kind, match.start + by, match.end + by, match.score, match.detector, match.version
    )


def _overlap(a: Match, b: Match) -> bool:
    return a.start < b.end and b.start < a.end


def ngram_hits(text: str, grams: frozenset[int], size: int) -> set[int]:
    """Hashes of the word ``size``-grams of ``text`` that also occur in ``grams``."""
    words = [w.lower() for w in _WORD.findall(text)]
    found = {hash(tuple(words[i : i + size])) for i in range(len(words) - size + 1)}
    return found & grams


def ngram_set(texts: Sequence[str], size: int) -> frozenset[int]:
    grams: set[int] = set()
    for text in texts:
        words = [w.lower() for w in _WORD.findall(text)]
        grams.update(hash(tuple(words[i : i + size])) for i in range(len(words) - size + 1))
    return frozenset(grams)
