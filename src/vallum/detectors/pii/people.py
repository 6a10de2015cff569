"""Person names from lexicons, titles, context phrases and capitalisation.

Works on the pre-filter's runs of capitalised words (``TextIndex.cap_runs``): every
decision is a set lookup per word, no regex per candidate.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator

from vallum.detectors.base import Match, TextIndex
from vallum.detectors.pii.lexicons import Lexicons
from vallum.detectors.pii.words import NOT_NAMES, ORG_WORDS, STREET_WORDS, SUFFIXES, TITLES

__all__ = ["PersonRecognizer", "Word", "run_words"]

# Phrases right before a name that make an unknown capitalised word a name.
_STRONG_BEFORE = frozenset(
    ["my name is", "name is", "name", "i'm", "i am", "this is", "dear", "said", "named",
     "called", "signed", "attn", "regards", "sincerely", "thanks", "hi", "hello", "hey", "ask",
     "tell", "told", "meet", "met", "with", "by", "contact", "assistant to", "patient",
     "customer", "client", "employee", "guardian", "son", "daughter", "wife", "husband",
     "mother", "father", "brother", "sister", "friend"]
)  # fmt: skip
_UNITS = frozenset({"apt", "suite", "unit", "flat", "studio"})  # may follow a name on one line
# First words of place names ("North Peter", "Sainte Caroline"), as Faker's city prefixes.
_PLACE_LEADS = frozenset(
    ["North", "South", "East", "West", "New", "Lake", "Port", "Fort", "Mount", "Saint",
     "Sainte", "San", "Santa", "St", "Ste"]
)  # fmt: skip
_TRAILING = " \t\n,:;.!?\"'()-"  # what may stand between a cue and the name
# Phrases that name the next word outright, known to the lexicons or not.
_NAMING_CUES = ("name is", "named", "called", "surname", "maiden name", "i'm", "i am")
_NAMING = re.compile(r"(?:name is|named|called|surname|maiden name|i'm|i am)\W{0,3}$")
_LOWER_NAME = re.compile(
    r"(?:my name is|name is|i'm|call me)[ \t]+"
    r"(?P<name>[a-z][a-z'\-]+(?:[ \t]+[a-z]\.?(?![a-z]))?(?:[ \t]+[a-z][a-z'\-]+)?)"
)

Word = tuple[int, int, str]  # start, end, text


def run_words(index: TextIndex, run: tuple[int, int]) -> list[Word]:
    """The words of a run: tokens joined by a hyphen or apostrophe make one word."""
    text = index.text
    words: list[Word] = []
    chunk = text[run[0] : run[1]]
    if chunk.replace(" ", "").isalpha():  # fast path: words and single spaces only
        pos = run[0]
        for word in chunk.split(" "):
            if word[:1].isupper():  # particles ("van") are not words of the name
                words.append((pos, pos + len(word), word))
            pos += len(word) + 1
        return words
    for start, end in index.run_tokens(run):
        if words and text[words[-1][1] : start] in ("-", "'", "\u2019"):
            first = words[-1][0]
            words[-1] = (first, end, text[first:end])
        else:
            words.append((start, end, text[start:end]))
    return words


def _country_names() -> frozenset[str]:
    """One-word country and territory names ("France", "Chile"), from phonenumbers' own data.

    They are first or last names in the lexicons, but alone they almost always mean the place.
    """
    import phonenumbers
    from phonenumbers import geocoder

    names = (
        geocoder._region_display_name(region, "en")  # phonenumbers has no public name lookup
        for region in phonenumbers.SUPPORTED_REGIONS
    )
    return frozenset(n.lower() for n in names if n and " " not in n)


class PersonRecognizer:
    """Runs of capitalised words scored by first/last-name lexicons, titles and context."""

    kinds = frozenset({"PERSON"})

    def __init__(self, lexicons: Lexicons) -> None:
        self.lex = lexicons
        names = lexicons.first_names | lexicons.last_names
        # street types that are nobody's name ("Track", "Course"; not "Ford", "Chase")
        streets = {w.lower() for w in lexicons.street_suffixes if w not in names}
        self.stop = (
            lexicons.common_words | ORG_WORDS | STREET_WORDS | NOT_NAMES | _country_names()
        ) | streets
        self.place_words = (ORG_WORDS | STREET_WORDS | streets) - _UNITS
        self.street_before = {w.lower().rstrip(".") for w in lexicons.street_prefixes}
        self.places = lexicons.places

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        for run in self._worth_a_look(index):
            found = self._run(text, run_words(index, run))
            if found is not None:
                yield found
        if index.has_any(("name is", "i'm", "call me")):
            yield from self._lowercase(text, index)

    def _worth_a_look(self, index: TextIndex) -> list[tuple[int, int]]:
        """The runs that may be a name. Most runs are one word (sentence-initial, a
        place): such a word must be a known first name of 3+ letters that is not a
        common word, or follow a naming cue ("name is Josefsen"). One comprehension
        rather than a loop: this is the hot path of prose."""
        text, stop, first = index.text, self.stop, self.lex.first_names
        runs = index.cap_runs
        if not index.has_any(_NAMING_CUES):
            return [
                (lo, hi)
                for lo, hi in runs
                if not (word := text[lo:hi]).isalpha()
                or (word in first and len(word) > 2 and word.lower() not in stop)
            ]
        naming = _cue_ends(index)
        return [
            (lo, hi)
            for lo, hi in runs
            if not (word := text[lo:hi]).isalpha()
            or (
                len(word) > 2 and word.lower() not in stop and (word in first or _named(naming, lo))
            )
        ]

    def _run(self, text: str, words: list[Word]) -> Match | None:
        stop = self.stop
        titled = next((k for k, w in enumerate(words[:3]) if w[2] in TITLES), 0)
        words = words[titled:]  # "Patient Mrs Deborah Burton": the name starts at the title
        i, title = 0, None
        while i < len(words):
            word = words[i][2]
            if word in TITLES:
                title = i if title is None else title
            elif title is not None and word.lower() not in self.lex.common_words:
                break  # "Ms. Austin": after a title, a place-like word is a name
            elif word.lower() in stop or (len(words) - i > 2 and self._role(word)):
                title = None  # "Patient Martin …", "Producer Liviana …"
            else:
                break
            i += 1
        j = i
        if (
            title is not None
            and i < len(words)
            and words[i][2].lower() not in self.lex.common_words
        ):
            j += 1  # "Ms. Austin": after a title, a place-like word is a name
        while j < len(words) and j - i < 4 and self._namelike(words[j][2]):
            j += 1
        if i == j:
            return None
        if j < len(words) and words[j][2].lower() in self.place_words:
            return None  # "Calvin Cove", "Shepherd Ltd": an address or an organisation
        if title is None and self._place(
            text, words[:j] if self._place_lead(words[:i]) else words[i:j]
        ):
            return None
        start = words[title if title is not None else i][0]
        end = words[j - 1][1]
        if j < len(words) and words[j][2] in SUFFIXES:
            end = words[j][1]
        if _after_number(text, start):
            return None  # "0998 Calvin Cove …": a street
        score = self._score([w[2] for w in words[i:j]], title is not None, text, start)
        return Match("PERSON", start, end, score, "pii.person", "2") if score > 0 else None

    @staticmethod
    def _place_lead(words: list[Word]) -> bool:
        return bool(words) and words[-1][2] in _PLACE_LEADS

    def _place(self, text: str, words: list[Word]) -> bool:
        """A city or region ("Porto Alegre", "North Peter"), or a street named after
        someone ("rue Georges Vaillant")."""
        name = text[words[0][0] : words[-1][1]]
        if name in self.places or words[0][2] in _PLACE_LEADS:
            return True
        before = text[max(0, words[0][0] - 12) : words[0][0]].split()
        return bool(before) and before[-1].lower().rstrip(".,") in self.street_before

    def _role(self, word: str) -> bool:
        """A dictionary word that is nobody's name, before a name ("Patient", "Producer")."""
        lex = self.lex
        return (
            word.lower() in lex.english_words
            and word not in lex.first_names
            and word not in lex.last_names
        )

    def _foreign(self, names: list[str]) -> bool:
        """Two or three Title-case words none of which is an English word or a place
        ("Gyala Antall", "Esat Jeknić"): a name the lexicons do not know."""
        english, places = self.lex.english_words, self.places
        return len(names) <= 3 and all(
            len(n) > 2
            and n[1:].replace("-", "").islower()
            and n.lower() not in english
            and n not in places
            for n in names
        )

    def _namelike(self, word: str) -> bool:
        lowered = word.lower()
        if lowered in self.stop:
            return False
        # adverbs in Title Case headings ("Secretly"), unless a name ("Kelly", "Emily")
        return not lowered.endswith("ly") or word in self.lex.first_names

    def _score(self, names: list[str], titled: bool, text: str, start: int) -> float:
        lex = self.lex
        first, last = names[0], names[-1]
        known_first = first in lex.first_names
        known_last = last in lex.last_names or last in lex.first_names or _known_parts(lex, last)
        if titled:
            return 0.85
        if len(names) == 3 and len(names[1]) == 1 and first[1:].islower() and last[1:].islower():
            return 0.7  # "Faina D. Yefremova": first name, initial, surname
        context = _cued(text, start)
        if len(names) >= 2:
            if known_first and known_last:
                return 0.85
            if known_first or known_last:
                return 0.7 if context else 0.6
            if context and len(names) <= 3:
                return 0.55
            return 0.6 if self._foreign(names) else 0.0
        if len(first) < 3 or first.isupper():
            return 0.0
        if known_first:
            return 0.75 if context else 0.55
        if first in lex.last_names:
            return 0.6 if context else 0.0
        naming = _NAMING.search(text[max(0, start - 24) : start].lower()) is not None
        return 0.6 if naming else 0.0  # "her maiden name is Josefsen": named outright

    def _lowercase(self, text: str, index: TextIndex) -> Iterator[Match]:
        """ "my name is lena andersson": names typed without capitals, after a strong cue."""
        lower = index.lower
        if len(lower) != len(text):
            return
        for found in _LOWER_NAME.finditer(lower):
            start, end = found.span("name")
            if text[start:end] != lower[start:end]:
                continue  # written with capitals: the run scan has it
            parts = found.group("name").split()
            if parts[0].capitalize() in self.lex.first_names and parts[0] not in self.stop:
                yield Match("PERSON", start, end, 0.7, "pii.person", "2")


def _known_parts(lex: Lexicons, name: str) -> bool:
    """A double-barrelled surname one of whose parts is known ("Hayes-Bennett")."""
    return "-" in name and any(p in lex.last_names for p in name.split("-"))


def _cued(text: str, start: int) -> bool:
    """One of ``_STRONG_BEFORE``'s phrases (1-3 words) ends right before ``start``:
    a set lookup of the last one, two and three words, no regex."""
    words = text[max(0, start - 24) : start].lower().rstrip(_TRAILING).split()[-3:]
    return any(" ".join(words[-n:]) in _STRONG_BEFORE for n in (1, 2, 3) if len(words) >= n)


def _cue_ends(index: TextIndex) -> list[int]:
    """Where the naming cues ("name is", "called" …) end, sorted."""
    if len(index.lower) != len(index.text):
        return []
    lower = index.lower
    ends: list[int] = []
    for cue in _NAMING_CUES:
        pos = lower.find(cue)
        while pos >= 0:
            ends.append(pos + len(cue))
            pos = lower.find(cue, pos + 1)
    return sorted(ends)


def _named(cue_ends: list[int], start: int) -> bool:
    """A naming cue ends in the few characters before ``start`` ("name is Josefsen")."""
    i = bisect_left(cue_ends, start - 4)
    return i < len(cue_ends) and cue_ends[i] <= start


def _after_number(text: str, start: int) -> bool:
    before = text[max(0, start - 8) : start].rstrip(" \t")
    return bool(before) and before[-1].isdigit()
