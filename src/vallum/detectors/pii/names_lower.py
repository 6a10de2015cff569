"""Person names typed in lower case: after a naming cue ("my name is lena andersson",
"name:  hyuuma t. maida") or opening a line ("eva kleist lives at …")."""

from __future__ import annotations

import re
from collections.abc import Iterator

from vallum.detectors.base import Match, TextIndex
from vallum.detectors.patterns import literal_starts
from vallum.detectors.pii.lexicons import Lexicons

__all__ = ["LowerCaseNames"]

_LOWER_CUES = ("name is", "i'm", "call me", "calls me", "name:")
# Names typed in lower case after a naming cue ("my name is lena andersson", "name:  hyuuma
# t. maida"); letters of any script, an optional initial.
_LOWER_NAME = re.compile(
    r"(?<![^\W\d_])(?P<cue>my name is|name is|i'm|call me|calls me|name:)[ \t]+"
    r"(?P<name>[^\W\d_A-Z][^\W\d_'\-]*(?:['\-][^\W\d_]+)?"
    r"(?:[ \t]+[^\W\d_]\.?(?![^\W\d_]))?(?:[ \t]+[^\W\d_][^\W\d_'\-]+(?:-[^\W\d_]+)?)?)"
)
_SEEK_CUES = literal_starts(
    "my name is", "name is", "i'm", "call me", "calls me", "name:", lower=True
)
_STRONG_LOWER = frozenset({"my name is", "call me", "calls me", "name:"})
_TOKEN = re.compile(r"\S+")
# A line opening with lower-case words: a name, maybe an initial, a surname, then the end
# of the line or a space ("eva kleist lives at …"); quote and bullet marks may lead, an
# indent may not (code: "    elif op in …").
_LINE_NAME = re.compile(
    r"[>*\-|?]*[ \t]?(?P<first>[^\W\d_A-Z]{2,})[ \t]+(?:[^\W\d_A-Z]\.?[ \t]+)?"
    r"(?P<last>[^\W\d_A-Z]{2,})(?=[ \t\r\n,]|$)"
)
_NEXT_LINE_NAME = re.compile("\n" + _LINE_NAME.pattern)
# Endings and the lemma endings they may come from ("parsed" -> "parse", "indexes" -> "index").
_INFLECTIONS = (
    ("ies", ("y",)), ("ied", ("y",)), ("es", ("", "e")), ("s", ("",)), ("ed", ("", "e")),
    ("ing", ("", "e")), ("ly", ("",)), ("er", ("", "e")), ("est", ("", "e")),
)  # fmt: skip


class LowerCaseNames:
    """Lower-case names, decided with the name lexicons and a dictionary check."""

    def __init__(self, lexicons: Lexicons, stop: frozenset[str]) -> None:
        self.lex = lexicons
        self.stop = stop

    def find(self, text: str, index: TextIndex) -> Iterator[Match]:
        if index.has_any(_LOWER_CUES):
            yield from self._after_cues(text, index)
        yield from self._lower_lines(text)

    def english(self, lowered: str) -> bool:
        """A dictionary word, also inflected ("parsed", "indexes", "specified"): the
        word list has lemmas only."""
        english = self.lex.english_words
        if lowered in english:
            return True
        for ending, stems in _INFLECTIONS:
            if lowered.endswith(ending):
                stem = lowered[: -len(ending)]
                if any(stem + s in english for s in stems):
                    return True
        return False

    def _after_cues(self, text: str, index: TextIndex) -> Iterator[Match]:
        """ "my name is lena andersson", "name:  hyuuma t. maida": names typed without
        capitals, after a naming cue."""
        lower = index.lower
        if len(lower) != len(text):
            return
        done = -1
        for pos in _SEEK_CUES(index):
            found = _LOWER_NAME.match(lower, pos)
            if found is None or found.start("name") <= done:
                continue  # "name is" inside "my name is", already decided
            start, end = found.span("name")
            done = start
            if text[start:end] != lower[start:end]:
                continue  # written with capitals: the run scan has it
            parts = [(start + m.start(), start + m.end()) for m in _TOKEN.finditer(found["name"])]
            while len(parts) > 1 and not self._lower_part(lower[parts[-1][0] : parts[-1][1]]):
                parts.pop()  # "lena and …", "anna thanks …"
            if self._lower_ok(lower, parts, found["cue"]):
                yield Match("PERSON", start, parts[-1][1], 0.7, "pii.person", "2")

    def _lower_lines(self, text: str) -> Iterator[Match]:
        """A line that starts with a lower-case first name and surname ("eva kleist lives
        at …", "leone mazzi" above a job title): both known, neither a dictionary word."""
        first_line = _LINE_NAME.match(text)
        found_lines = _NEXT_LINE_NAME.finditer(text)  # a literal "\n" first: a fast scan
        for found in (first_line, *found_lines) if first_line else found_lines:
            if self._lower_pair(found["first"], found["last"]):
                yield Match("PERSON", found.start("first"), found.end(), 0.65, "pii.person", "2")

    def _lower_pair(self, first: str, last: str) -> bool:
        lex, stop = self.lex, self.stop
        return (
            first.islower()
            and last.islower()
            and first.capitalize() in lex.first_names
            and last.capitalize() in lex.last_names
            and first not in stop
            and last not in stop
            and not self.english(first)
            and not self.english(last)
        )

    def _lower_part(self, word: str) -> bool:
        """A later word of a lower-case name: an initial, a known surname that is no
        common word, or a word no dictionary knows."""
        word = word.rstrip(".")
        if len(word) == 1:
            return True
        if word in self.stop:
            return False
        return word.capitalize() in self.lex.last_names or not self.english(word)

    def _lower_ok(self, lower: str, parts: list[tuple[int, int]], cue: str) -> bool:
        first = lower[parts[0][0] : parts[0][1]]
        if first in self.stop or len(first) < 2:
            return False
        strong = cue in _STRONG_LOWER
        if self.english(first):  # "i'm done", "name is parsed"; but "my name is mark"
            return strong and first.capitalize() in self.lex.first_names
        if first.capitalize() in self.lex.first_names:
            return True
        if not strong:
            return False
        # a label ("name: nginx") needs two words; a spoken cue ("call me piusz") one
        return cue != "name:" or sum(e - s > 2 for s, e in parts) >= 2
