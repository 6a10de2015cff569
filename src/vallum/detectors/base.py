"""The detector contract and its shared types.

A detector is anything with a ``name``, the ``kinds`` it reports, a ``version`` and
``inspect(text, source, passes=None) -> Inspection``: pure, synchronous and fast (the
fast tier of a cascade, see ``vallum.detectors.cascade``). The guard layers, the eval
registry and the in-process ``Guard`` all loop over such detectors; none special-cases
one. ``Passes`` lets several detectors share the cheap passes over one text (the
normalized form, the ``TextIndex``), each made at most once.

An inspection holds ``Verdict`` s (never the matched text: a span, a score and, for
located values, a ``Match`` an operator can replace) and the detector's whole-text
score with whether it is ``decisive`` (a rule hit, a deny term), which the cascade
reads to decide whether a slower tier is consulted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple, Protocol

from vallum.detectors.normalize import Normalized, Normalizer
from vallum.detectors.textindex import TextIndex
from vallum.pipeline.exchange import Source

__all__ = [
    "MAX_INPUT_CHARS",
    "NOTHING",
    "Detection",
    "Detector",
    "Inspection",
    "Match",
    "Passes",
    "Recognizer",
    "Source",
    "TextIndex",
    "Verdict",
    "keyed_digest",
    "resolve_overlaps",
    "value_digest",
]

MAX_INPUT_CHARS = 2_000_000  # detectors look at no more than this many characters of one text


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


def value_digest(value: str) -> str:
    """A short unkeyed SHA-256 of a matched value, for correlating findings (never the value)."""
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:12]


class Verdict(NamedTuple):
    """One detector's finding on one text: never holds the matched text itself.

    ``span`` locates the evidence (``None``: the text as a whole); ``match`` is set for a
    located value (a secret, PII) that an operator may replace. A named tuple: span
    detectors make one per match, on every stream window, so it must be cheap to build.
    """

    detector: str
    kind: str
    score: float
    span: tuple[int, int] | None
    version: str
    match: Match | None = None


class Inspection:
    """What one detector made of one text.

    ``verdicts`` are its findings. ``score`` is the whole-text score of a label detector
    (injection, content; 0 for span detectors), ``decisive`` says the verdict rests on
    categorical evidence (a rule hit, a deny or allow term) that no later tier of a
    cascade should overturn, ``text`` is what a later tier should read (the normalized
    text). A span detector gives its located values as ``matches`` (what an operator
    replaces) and its name and version; their verdicts are built only when read, since
    the output filter needs the matches alone on every stream window.
    """

    __slots__ = ("_verdicts", "decisive", "detector", "matches", "score", "text", "version")

    def __init__(
        self,
        verdicts: tuple[Verdict, ...] = (),
        score: float = 0.0,
        decisive: bool = True,
        text: str = "",
        *,
        matches: tuple[Match, ...] = (),
        detector: str = "",
        version: str = "",
    ) -> None:
        self._verdicts: tuple[Verdict, ...] | None = None if matches else verdicts
        self.score = score
        self.decisive = decisive
        self.text = text
        self.matches = matches
        self.detector = detector
        self.version = version

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        if self._verdicts is None:
            name, version = self.detector, self.version
            self._verdicts = tuple(
                Verdict(name, m.kind, m.score, (m.start, m.end), version, m) for m in self.matches
            )
        return self._verdicts

    @property
    def flagged(self) -> bool:
        return bool(self.matches) or bool(self.verdicts)


NOTHING = Inspection()


class Passes:
    """The cheap passes over one text that several detectors read, each made at most once."""

    __slots__ = ("_index", "_normalized", "normalizer", "text")

    def __init__(self, text: str, normalizer: Normalizer | None = None) -> None:
        self.text = text
        self.normalizer = normalizer
        self._index: TextIndex | None = None
        self._normalized: Normalized | None = None

    @property
    def index(self) -> TextIndex:
        if self._index is None:
            self._index = TextIndex(self.text)
        return self._index

    def normalized(self, normalizer: Normalizer) -> Normalized:
        """The text normalized by ``normalizer`` (shared when it is the passes' own)."""
        if normalizer is not self.normalizer:
            return normalizer.normalize(self.text)
        if self._normalized is None:
            self._normalized = normalizer.normalize(self.text)
        return self._normalized


class Detector(Protocol):
    """The one detector contract: the guard layers, ``vallum eval`` and ``Guard`` use only this.

    ``inspect`` is pure and synchronous (the fast tier); ``passes``, when given, holds the
    passes already made over ``text`` by other detectors of the same scan.
    """

    @property
    def name(self) -> str: ...

    @property
    def kinds(self) -> frozenset[str]: ...

    @property
    def version(self) -> str: ...

    def inspect(self, text: str, source: Source, passes: Passes | None = None) -> Inspection: ...


_BY_SPAN = attrgetter("start", "end")  # C-level sort keys: no Python call per match
_BY_START = attrgetter("start")


def resolve_overlaps(matches: Sequence[Match]) -> list[Match]:
    """Keep the best of overlapping matches (higher score, then longer), sorted by start.

    Greedy by rank within each run of mutually overlapping matches: the same result as
    one greedy pass over all matches, in O(n log n) rather than O(n²) for long texts.
    """
    kept: list[Match] = []
    group: list[Match] = []
    group_end = -1
    for match in sorted(matches, key=_BY_SPAN):
        if group and match.start >= group_end:
            kept += _greedy(group)
            group = []
        group.append(match)
        group_end = max(group_end, match.end) if len(group) > 1 else match.end
    kept += _greedy(group)
    kept.sort(key=_BY_START)
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
