"""Person names and organisations from lexicons, titles, context phrases and capitalisation."""

from __future__ import annotations

import re
from collections.abc import Iterator

from vallum.detectors.base import CONTEXT_CHARS, Match, TextIndex, context_pattern, match_at
from vallum.detectors.pii.lexicons import Lexicons

__all__ = ["OrganizationRecognizer", "PersonRecognizer"]

_UPPER = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ"
_CAP = rf"[{_UPPER}][^\W\d_]*(?:['\u2019\-][^\W\d_]+)*"
_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Lady|Lord|Rev|Fr|Sr|Sra|Herr|Frau|Mme|Mlle)"
_RUN = re.compile(
    rf"(?<![\w@.])(?:(?P<title>{_TITLE})\.?[ \t]+)?(?P<name>{_CAP}(?:[ \t]+(?:[A-Z]\.?[ \t]+)?{_CAP}){{0,3}})"  # noqa: E501 - one regex alternative per line
    r"(?:[ \t]+(?P<suffix>MD|PhD|DDS|DVM|Jr\.?|Sr\.?|II|III|IV|Esq\.?))?(?![\w@])"
)
_PERSON_CONTEXT = context_pattern(
    ["my name is", "name is", "name:", "named", "called", "dear", "hi", "hello", "mr", "mrs",
     "ms", "dr", "by", "with", "thanks", "regards", "customer", "patient", "client", "user",
     "contact", "employee", "manager", "son", "daughter", "wife", "husband", "friend", "heard",
     "grandfather", "grandmother", "mother", "father", "brother", "sister", "met", "ask", "told"]
)  # fmt: skip
_ORG_WORDS = frozenset(
    [
        "inc",
        "inc.",
        "llc",
        "ltd",
        "ltd.",
        "plc",
        "corp",
        "corp.",
        "corporation",
        "group",
        "company",
        "co",
        "co.",
        "gmbh",
        "ag",
        "sa",
        "technologies",
        "technology",
        "systems",
        "solutions",
        "consulting",
        "partners",
        "labs",
        "bank",
        "holdings",
        "industries",
        "associates",
        "enterprises",
        "international",
        "foundation",
        "institute",
        "university",
        "networks",
        "software",
        "services",
        "capital",
        "ventures",
        "media",
        "pharmaceuticals",
        "logistics",
    ]
)
_ORG_RUN = re.compile(
    rf"(?<![\w@.])(?:{_CAP}|&)(?:(?:,?[ \t]+|-)(?:{_CAP}|and|&|of|de|[A-Z]{{2,5}}\.?)){{0,5}}(?![\w@])"  # noqa: E501 - one regex alternative per line
)
_ORG_CONTEXT = context_pattern(
    ["work for", "works for", "worked for", "work at", "works at", "employed by", "company",
     "employer", "joined", "firm", "acquired", "subsidiary of", "customer of", "vendor"]
)  # fmt: skip


class PersonRecognizer:
    """Runs of capitalised tokens scored by first/last-name lexicons, titles and context."""

    kinds = frozenset({"PERSON"})

    def __init__(self, lexicons: Lexicons) -> None:
        self.lex = lexicons

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        for found in match_at(_RUN, text, index.cap_starts):
            start, end = found.span("name")
            tokens = found.group("name").split()
            while tokens and tokens[0].lower() in self.lex.common_words:
                start = text.index(tokens[1], start + len(tokens[0])) if len(tokens) > 1 else end
                tokens = tokens[1:]
            if not tokens:
                continue
            titled = found.group("title") is not None
            if titled:
                start = found.start()
            if found.group("suffix"):
                end = found.end("suffix")
            score = self._score(tokens, titled, text, start)
            if score > 0:
                yield Match("PERSON", start, end, score, "pii.person", "1")

    def _score(self, tokens: list[str], titled: bool, text: str, start: int) -> float:
        lex = self.lex
        first, last = tokens[0], tokens[-1]
        known_first = first in lex.first_names
        known_last = last in lex.last_names or last in lex.first_names
        if titled:
            return 0.85
        context = _PERSON_CONTEXT is not None and _PERSON_CONTEXT.search(
            text[max(0, start - CONTEXT_CHARS) : start].lower()
        )
        if len(tokens) >= 2:
            if known_first and known_last:
                return 0.85
            if (known_first or known_last) and not _any_common(tokens, lex):
                return 0.7 if context else 0.55
            return 0.5 if context and not _any_common(tokens, lex) else 0.0
        if first.lower() in lex.common_words or len(first) < 3:
            return 0.0
        if known_first or known_last:
            return 0.75 if context else 0.45
        return 0.0


def _any_common(tokens: list[str], lex: Lexicons) -> bool:
    return any(t.lower() in lex.common_words or t.lower() in _ORG_WORDS for t in tokens)


class OrganizationRecognizer:
    """Capitalised runs ending in a company word or suffix, and "X, Y and Z" law-firm forms."""

    kinds = frozenset({"ORGANIZATION"})

    def __init__(self, lexicons: Lexicons) -> None:
        self.lex = lexicons
        self.suffixes = {s.lower() for s in lexicons.company_suffixes} | _ORG_WORDS

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        for found in match_at(_ORG_RUN, text, index.cap_starts):
            value = found.group()
            words = re.split(r"[ \t,\-]+", value)
            if len(words) < 2 and "-" not in value:
                continue
            if words[-1].lower() in self.suffixes and words[0].lower() not in self.lex.common_words:
                yield Match("ORGANIZATION", found.start(), found.end(), 0.8, "pii.org", "1")
            elif self._partnership(words, value):
                yield Match("ORGANIZATION", found.start(), found.end(), 0.7, "pii.org", "1")

    def _partnership(self, words: list[str], value: str) -> bool:
        names = [w for w in words if w not in ("and", "&")]
        joined = len(names) != len(words) or ("-" in value and len(names) == 2)
        return joined and 2 <= len(names) <= 3 and all(w in self.lex.last_names for w in names)
