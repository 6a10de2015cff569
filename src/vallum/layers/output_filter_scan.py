"""The output filter's scanner: detection, decisions on stream windows, and leak checks.

A stream window is decided like this (``n`` = window length, ``L`` = look-behind,
``M`` = growth margin): a match is *final* when it ends at least ``M`` characters before
the window end; the text up to ``n - L`` may be released, but never through a match that
is not final or that straddles the cut — then the cut moves back to the match start and
``hold_from`` tells the pipeline. Only the released prefix is edited, so held text is
always original text, and the ``context`` carried per channel gives later windows the
words in front of them. Cost per window is bounded by the window, not by the stream.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from vallum.detectors.base import Match, TextIndex, resolve_overlaps
from vallum.detectors.operators import Operator, OperatorState, apply_operator
from vallum.detectors.pii import PiiDetector
from vallum.detectors.secrets import SecretDetector

__all__ = ["ChannelState", "Scanner", "WindowResult", "ngram_hits"]

CONTEXT_KEEP = 64  # released characters kept as context for the next window
_OPEN_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----")
_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class ChannelState:
    context: str = ""
    leak_hits: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class WindowResult:
    text: str
    hold_from: int | None
    applied: list[Match]  # matches acted on, with spans relative to the window
    blocked: Match | None = None


@dataclass(slots=True)
class Scanner:
    pii: PiiDetector | None
    secrets: SecretDetector | None
    actions: dict[str, Operator]
    default_action: Operator
    lookbehind: int
    margin: int

    def detect(self, text: str) -> list[Match]:
        found: list[Match] = []
        index = TextIndex(text)  # one pre-filter pass, shared by both detectors
        if self.pii is not None:
            found += self.pii.detect(text, index)
        if self.secrets is not None:
            found += self.secrets.detect(text, index)
        return (
            resolve_overlaps(found) if self.pii is not None and self.secrets is not None else found
        )

    def action(self, kind: str) -> Operator:
        return self.actions.get(kind, self.default_action)

    def edit(self, text: str, matches: Sequence[Match], state: OperatorState) -> str:
        """Apply each match's operator (block matches are left for the caller)."""
        out: list[str] = []
        cursor = 0
        for match in matches:
            operator = self.action(match.kind)
            out.append(text[cursor : match.start])
            out.append(
                apply_operator(text[match.start : match.end], [_at_zero(match)], operator, state)
            )
            cursor = match.end
        out.append(text[cursor:])
        return "".join(out)

    def window(
        self, window: str, channel: ChannelState, state: OperatorState, final: bool
    ) -> WindowResult:
        prefix = channel.context
        offset = len(prefix)
        matches = [_shift(m, -offset) for m in self.detect(prefix + window) if m.start >= offset]
        n = len(window)
        cut = n if final else self._cut(window, matches)
        applied = [m for m in matches if m.end <= cut]
        blocked = next((m for m in applied if self.action(m.kind) is Operator.BLOCK), None)
        released = self.edit(window[:cut], applied, state)
        channel.context = (prefix + window[:cut])[-CONTEXT_KEEP:]
        return WindowResult(
            released + window[cut:], None if final else len(released), applied, blocked
        )

    def _cut(self, window: str, matches: list[Match]) -> int:
        n = len(window)
        cut = max(0, n - self.lookbehind)
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
        return cut


def _shift(match: Match, by: int) -> Match:
    return Match(
        match.kind, match.start + by, match.end + by, match.score, match.detector, match.version
    )


def _at_zero(match: Match) -> Match:
    return _shift(match, -match.start)


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
