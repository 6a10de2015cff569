"""Organisations: capitalised runs ending in a company word, partnerships, and context.

Like person names, decided per run of capitalised tokens with set lookups.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import replace

from vallum.detectors.base import Match, TextIndex
from vallum.detectors.patterns import literal_starts
from vallum.detectors.pii.lexicons import Lexicons
from vallum.detectors.pii.people import Word, run_words
from vallum.detectors.pii.words import ORG_WORDS, STREET_WORDS

__all__ = ["OrganizationRecognizer"]

# "Jones, Smith and Davis", "Smith & Partners": the joins a run may continue through.
_PARTNER_JOIN = re.compile(r"(?:,[ \t]+|[ \t]+(?:and|&)[ \t]+)")
_ABBREVIATED = frozenset({"inc", "ltd", "corp", "co", "bros", "assn"})
_QUOTES = " \t>?*-|"  # what may lead a line of a quoted or bulleted signature
_JOINS = frozenset({", ", " a", " &"})  # first two characters of a partnership join
_OF_TAILS = frozenset({"f ", "m "})  # last two characters of " of " and " from "
# (each literal is one scan of the text: role cues are kept to the common ones)
_ORG_CUES = ("work", "employ", "joined", "acquired", "subsidiary", "customer of", "vendor",
             "company", "firm", "became", "agency", "year at", "intern", "account with",
             "team at", "engineer at", "founder")  # fmt: skip
# Phrases right before a name that make it an employer or a company: "works for", "interned
# at", "an account with", "the team at", a role + "at" / "of" ("engineer at", "CEO of").
_ORG_BEFORE = re.compile(
    r"(?:work(?:s|ed|ing)? (?:for|at)|employed by|employer:?|joined|acquired by|"
    r"subsidiary of|customer of|vendor|company|firm|became|later became|agency|years? at|"
    r"intern(?:ed|ing)? (?:at|with)|account with|banking with|team at|"
    r"(?:engineer|developer|manager|director|analyst|consultant|designer|scientist|"
    r"researcher|founder|ceo|cto|cfo)s? (?:at|of))\W{0,3}$"
)
# Words that may lead a run without being part of the name ("The Agency", "Our Bank").
_FUNCTION = frozenset(
    ["the", "a", "an", "this", "that", "these", "those", "our", "my", "your", "his", "her",
     "their", "its", "in", "at", "on", "for", "from", "with", "by", "to", "of", "and", "or",
     "but", "if", "when", "while", "as", "after", "before", "since", "every", "each", "all",
     "some", "any", "no", "yes", "dear", "hi", "hello", "thanks", "please", "new", "local"]
)  # fmt: skip
_SONS_JOIN = re.compile(r"[ \t]+(?:and|&)[ \t]+(?P<word>[A-Z][a-z]+)\b\.?")
_SONS = frozenset({"Sons", "Brothers", "Bros", "Daughters", "Partners", "Associates", "Co"})


# What a company does or has, right after its name: "Avalara announced", "the Paxata
# office", "Uber's CEO", "Persint is a German … company". Scanned only when one of the
# words occurs in the text.
_AFTER_WORDS = ("invest", "announc", "acquir", "launch", "hired", "raised", "unveil",
                "office", "headquarter", "ceo", "cfo", "employees", "shareholders",
                "company", "firm", "startup", "manufacturer", "provider", "website")  # fmt: skip
_ORG_AFTER = re.compile(
    r"(?:['\u2019]s)?[ \t]+(?:"
    r"(?:has |had |have )?(?:invested|announced|acquired|launched|hired|raised|unveiled)\b"
    r"|(?:office|offices|headquarters|CEO|CFO|CTO|ceo|employees|shareholders|website)\b"
    r"|(?:is|was) (?:an?|the) (?:[\w\-]+ ){0,7}?"
    r"(?:company|firm|bank|startup|corporation|manufacturer|provider|retailer|brand)\b)"
)


def _after_starts(index: TextIndex) -> frozenset[int]:
    """The ends of the runs an ``_ORG_AFTER`` phrase follows: tried at run ends only (a
    scan of the whole text would start at every space)."""
    if not index.has_any(_AFTER_WORDS):
        return frozenset()
    text, after = index.text, _ORG_AFTER.match
    return frozenset(hi for _, hi in index.cap_runs if after(text, hi) is not None)


def _cue_ends(index: TextIndex) -> list[int]:
    """Where the employer cue words end (sorted); empty when the text has none."""
    if len(index.lower) != len(index.text) or not index.has_any(_ORG_CUES):
        return []
    return sorted(pos + 4 for pos in literal_starts(*_ORG_CUES, lower=True)(index))


def _affiliation(text: str, start: int) -> bool:
    """ "<Name> of X", "<Name> from X": an affiliation right after a capitalised word."""
    if not (
        (start >= 4 and text.startswith(" of ", start - 4))
        or (start >= 6 and text.startswith(" from ", start - 6))
    ):
        return False  # the common case, decided without a slice
    before = text[max(0, start - 24) : start]
    words = before.rsplit(" ", 3)
    return len(words) >= 3 and words[-3][:1].isupper() and words[-3][-1:].isalpha()


def _whole_line(text: str, run: tuple[int, int]) -> bool:
    """The run fills its line, quote and bullet marks aside."""
    lo, hi = run
    if text[hi : hi + 1] not in ("\n", "\r", ""):
        return False
    return not text[text.rfind("\n", 0, lo) + 1 : lo].strip(_QUOTES)


def _cue_before(cue_ends: list[int], start: int) -> bool:
    """A cue word ends within the 24 characters before ``start`` (roughly: the regex of
    ``_employer`` decides)."""
    i = bisect_left(cue_ends, start - 40)
    return i < len(cue_ends) and cue_ends[i] <= start


def _maybe(
    text: str, runs: list[tuple[int, int]], cue_ends: list[int], after: frozenset[int]
) -> list[int]:
    """The runs worth a look: all but lone words that neither follow "of" / "from" or a
    cue nor precede a partnership join — most runs of prose, dropped in one pass."""
    return [
        n
        for n, (lo, hi) in enumerate(runs)
        if text[hi : hi + 2] in _JOINS
        or not text[lo:hi].isalpha()
        or (
            text[lo - 2 : lo] in _OF_TAILS
            and text[max(0, lo - 6) : lo].endswith((" of ", " from "))
        )
        or (cue_ends and _cue_before(cue_ends, lo))
        or hi in after
        or text[hi : hi + 1] == "\n"
    ]


class OrganizationRecognizer:
    """Company suffixes (Inc, GmbH, Bank …), last-name partnerships and employer phrases."""

    kinds = frozenset({"ORGANIZATION"})

    def __init__(self, lexicons: Lexicons) -> None:
        self.lex = lexicons
        self.suffixes = {s.lower().rstrip(".") for s in lexicons.company_suffixes} | ORG_WORDS
        self.not_org = lexicons.common_words - ORG_WORDS
        self.street_words = STREET_WORDS | {w.lower() for w in lexicons.street_suffixes}

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        runs = index.cap_runs
        cue_ends = _cue_ends(index)
        after = _after_starts(index)
        skip_to = -1
        candidate, under_name = self._candidate, self._under_name
        for n in _maybe(text, runs, cue_ends, after):
            run = runs[n]
            if run[0] < skip_to:
                continue
            cue = bool(cue_ends) and _cue_before(cue_ends, run[0])
            acts = run[1] in after or under_name(text, run)
            if not cue and not acts and not candidate(text, run):
                continue
            words = self._leading_words_off(text, run, run_words(index, run))
            found = self._decide(text, runs, n, words, cue, acts) if words else None
            if found is not None:
                skip_to = found.end
                yield found

    def _decide(
        self,
        text: str,
        runs: list[tuple[int, int]],
        n: int,
        words: list[Word],
        cue: bool,
        acts: bool,
    ) -> Match | None:
        run = runs[n]
        found = self._suffixed(text, words) or self._partnership(text, runs, n, words)
        if found is not None and found.start == run[0]:
            found = self._partners_before(text, runs, n, found)
        if found is None and cue:
            found = self._employer(text, words)
        if found is None and _affiliation(text, run[0]):
            found = self._affiliated(words)
        if found is None and acts:
            found = self._acting(words)
        return found

    def _leading_words_off(self, text: str, run: tuple[int, int], words: list[Word]) -> list[Word]:
        """Drop common words that lead a run ("Yesterday Acme Corp"); on a line of its own
        (a signature's company line) keep one that names a lone company word ("Knowledge
        Agency"; not "The Agency", and not in Title Case prose: "Free Software")."""
        k = 0
        while k < len(words) and words[k][2].lower() in self.not_org:
            k += 1
        if (
            0 < k == len(words) - 1
            and not words[k - 1][2].isupper()
            and words[k][2].lower() in self.suffixes
            and words[k - 1][2].lower() not in _FUNCTION
            and _whole_line(text, run)
        ):
            k -= 1
        return words[k:]

    def _personal(self, words: list[Word]) -> bool:
        """Reads as a person's name: a first name, then nothing but surnames or words no
        dictionary knows ("Thomas", "Anna Berg"; not "Wolfram Research")."""
        lex = self.lex
        return words[0][2] in lex.first_names and all(
            w[2] in lex.last_names or w[2].lower() not in lex.english_words for w in words[1:]
        )

    def _under_name(self, text: str, run: tuple[int, int]) -> bool:
        """A signature's company line: the run is alone on its line (quote marks aside),
        right under a line holding a person's name ("Dreux Joly\nPaxata\n…")."""
        lo, hi = run
        if text[hi : hi + 1] not in ("\n", "\r"):
            return False
        line_start = text.rfind("\n", 0, lo) + 1
        if not line_start or text[line_start:lo].strip(_QUOTES):
            return False
        above = text[text.rfind("\n", 0, line_start - 1) + 1 : line_start - 1].strip(_QUOTES)
        names = above.split()
        return 2 <= len(names) <= 3 and names[0] in self.lex.first_names and above.istitle()

    def _acting(self, words: list[Word]) -> Match | None:
        """ "Avalara announced", "the Paxata office", "Persint is a … company": a name
        that acts like a company — not a person's (no first name first, no lone surname),
        not a place, not a lone dictionary word."""
        lex = self.lex
        # "Microsoft CEO Steve Ballmer announced": the company ends before a role in capitals
        cut = next((k for k, w in enumerate(words) if k and w[2].isupper()), len(words))
        words = words[:cut]
        first = words[0][2]
        if len(words) > 4 or self._personal(words) or first.isupper():
            return None
        name = " ".join(w[2] for w in words)
        if name in lex.places:
            return None
        if len(words) == 1 and (first in lex.last_names or first.lower() in lex.english_words):
            return None
        if words[-1][2].lower() in self.street_words:
            return None  # "Main Street office": an address
        # above an address without locality (0.75): "During 1971, Mayo-Walters invested"
        return Match("ORGANIZATION", words[0][0], words[-1][1], 0.8, "pii.org", "2")

    def _candidate(self, text: str, run: tuple[int, int]) -> bool:
        """Cheap test before the word-by-word look: a company word last, or a surname
        followed by a partnership join, or a hyphenated pair."""
        chunk = text[run[0] : run[1]]
        if _affiliation(text, run[0]):
            return True
        if chunk.isalpha():
            join = text[run[1] : run[1] + 2]
            if join not in _JOINS:
                return False
            if chunk in self.lex.last_names:
                return True
            sons = _SONS_JOIN.match(text, run[1]) if join != ", " else None  # "Thomas and Sons"
            return sons is not None and sons["word"] in _SONS
        last = chunk.rsplit(" ", 1)[-1]
        return last.lower() in self.suffixes or ("-" in chunk and " " not in chunk)

    def _partners_before(
        self, text: str, runs: list[tuple[int, int]], n: int, found: Match
    ) -> Match:
        """ "Davis, Reynolds and Williamson Orchestra": surnames joined before the name."""
        start = found.start
        for lo, hi in reversed(runs[max(0, n - 2) : n]):
            if _PARTNER_JOIN.fullmatch(text, hi, start) is None:
                break
            lo = text.rfind(" ", lo, hi) + 1 or lo  # "The Davis": the surname only
            if text[lo:hi] not in self.lex.last_names:
                break
            start = lo
        return found if start == found.start else replace(found, start=start)

    def _affiliated(self, words: list[Word]) -> Match | None:
        """ "Margaret S. Stouffer of Opencounter": not a place, not a person's name."""
        name = " ".join(w[2] for w in words)
        if len(words) > 4 or name in self.lex.places or words[0][2] in self.lex.first_names:
            return None
        if all(w[2].lower() in self.lex.english_words for w in words) and len(words) == 1:
            return None  # "… of Mathematics"
        return Match("ORGANIZATION", words[0][0], words[-1][1], 0.6, "pii.org", "2")

    def _suffixed(self, text: str, words: list[Word]) -> Match | None:
        last = words[-1][2].lower()
        if len(words) < 2 or last not in self.suffixes:
            return None
        end = words[-1][1]
        if last in _ABBREVIATED and text[end : end + 1] == ".":
            end += 1
        return Match("ORGANIZATION", words[0][0], end, 0.8, "pii.org", "2")

    def _partnership(
        self, text: str, runs: list[tuple[int, int]], n: int, words: list[Word]
    ) -> Match | None:
        """Two or three surnames joined by ",", "and", "&" or a hyphen ("Weeks-Rivas")."""
        names = [words[-1]]
        sons = _SONS_JOIN.match(text, words[-1][1])
        if sons is not None and sons["word"] in _SONS:
            return Match("ORGANIZATION", words[0][0], sons.end(), 0.8, "pii.org", "2")
        if len(words) == 1 and "-" in words[0][2]:
            parts = words[0][2].split("-")
            if len(parts) == 2 and all(p in self.lex.last_names for p in parts):
                return Match("ORGANIZATION", words[0][0], words[0][1], 0.8, "pii.org", "2")
            return None
        if n and _PARTNER_JOIN.fullmatch(text, runs[n - 1][1], words[0][0]):
            return None  # a later item of a list ("founders: Kónya, Becker and Vasquez")
        end = words[-1][1]
        for start, stop in runs[n + 1 : n + 3]:
            join = _PARTNER_JOIN.fullmatch(text, end, start)
            if join is None or not text[start:stop].isalpha():
                break
            names.append((start, stop, text[start:stop]))
            end = stop
            if join.group().strip() in ("and", "&"):
                break
        if len(words) != 1 or len(names) < 2:
            return None
        if not all(name[2] in self.lex.last_names for name in names):
            return None
        return Match("ORGANIZATION", words[0][0], end, 0.8, "pii.org", "2")

    def _employer(self, text: str, words: list[Word]) -> Match | None:
        """ "works for Wolters Kluwer": a capitalised name that is not a person's."""
        start = words[0][0]
        if _ORG_BEFORE.search(text[max(0, start - 24) : start].lower()) is None:
            return None
        if len(words) > 4 or self._personal(words):
            return None
        return Match("ORGANIZATION", start, words[-1][1], 0.75, "pii.org", "2")
