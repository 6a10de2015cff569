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

__all__ = [
    "ORG_WORDS",
    "STREET_WORDS",
    "PersonRecognizer",
    "Word",
    "run_words",
]

TITLES = frozenset(
    [
        "Mr",
        "Mrs",
        "Ms",
        "Miss",
        "Mx",
        "Dr",
        "Prof",
        "Sir",
        "Dame",
        "Lady",
        "Lord",
        "Rev",
        "Fr",
        "Sr",
        "Sra",
        "Herr",
        "Frau",
        "Mme",
        "Mlle",
    ]
)
_SUFFIXES = frozenset(["MD", "PhD", "DDS", "DVM", "Jr", "Sr", "II", "III", "IV", "Esq"])
ORG_WORDS = frozenset(
    [
        "inc",
        "incorporated",
        "investments",
        "insurance",
        "llc",
        "ltd",
        "plc",
        "corp",
        "corporation",
        "group",
        "company",
        "co",
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
        "college",
        "school",
        "hospital",
        "agency",
        "association",
        "council",
        "ministry",
        "department",
        "office",
        "society",
        "trust",
        "fund",
        "club",
        "orchestra",
        "ensemble",
        "choir",
        "theatre",
        "theater",
        "museum",
        "gallery",
        "studio",
        "studios",
        "records",
        "press",
    ]
)
STREET_WORDS = frozenset(
    [
        "street",
        "st",
        "avenue",
        "ave",
        "road",
        "rd",
        "boulevard",
        "blvd",
        "lane",
        "ln",
        "drive",
        "court",
        "ct",
        "place",
        "square",
        "terrace",
        "way",
        "parkway",
        "highway",
        "circle",
        "crescent",
        "close",
        "grove",
        "gardens",
        "park",
        "row",
        "walk",
        "hill",
        "heights",
        "ridge",
        "plaza",
        "mall",
        "loop",
        "path",
        "pike",
        "route",
        "cove",
        "creek",
        "crossing",
        "estates",
        "glen",
        "green",
        "harbor",
        "haven",
        "island",
        "junction",
        "lake",
        "landing",
        "manor",
        "meadow",
        "mill",
        "mount",
        "mountain",
        "orchard",
        "port",
        "ranch",
        "shore",
        "spring",
        "station",
        "summit",
        "trail",
        "tunnel",
        "turnpike",
        "valley",
        "view",
        "vista",
        "village",
        "via",
        "rue",
        "calle",
        "avenida",
        "strasse",
        "straße",
        "suite",
        "apt",
    ]
)
# Capitalised words that are names in the lexicons but here mean a rank or a place.
_NOT_NAMES = frozenset(
    [
        "prince",
        "princess",
        "king",
        "queen",
        "duke",
        "duchess",
        "royal",
        "saint",
        "republic",
        "kingdom",
        "federation",
        "emirates",
        "islands",
        "union",
        "states",
        "county",
        "province",
        "china",
        "india",
        "israel",
        "georgia",
        "jordan",
        "virginia",
        "carolina",
        "florida",
        "dakota",
        "austin",
        "paris",
        "london",
        "math",
        "server",
        "unknown",
        "unique",
        "justice",
        "hence",
        "dot",
        "an",
        "art",
        "page",
        "case",
        "lane",
        "sky",
        "ocean",
        "river",
        "summer",
        "winter",
        "autumn",
        "spring",
        "june",
        "april",
        "august",
    ]
)
# Phrases right before a name that make an unknown capitalised word a name.
_STRONG_BEFORE = frozenset(
    ["my name is", "name is", "name", "i'm", "i am", "this is", "dear", "said", "named",
     "called", "signed", "attn", "regards", "sincerely", "thanks", "hi", "hello", "hey", "ask",
     "tell", "told", "meet", "met", "with", "by", "contact", "assistant to", "patient",
     "customer", "client", "employee", "guardian", "son", "daughter", "wife", "husband",
     "mother", "father", "brother", "sister", "friend"]
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
        self.stop = lexicons.common_words | ORG_WORDS | STREET_WORDS | _NOT_NAMES | _country_names()
        self.place_words = ORG_WORDS | STREET_WORDS

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        stop, first_names = self.stop, self.lex.first_names
        naming = _cue_ends(index) if index.has_any(_NAMING_CUES) else []
        for run in index.cap_runs:
            word = text[run[0] : run[1]]
            fast = word.isalpha()  # fast path: most runs are one sentence-initial word
            if fast and (len(word) < 3 or word.lower() in stop):
                continue
            if fast and word not in first_names and not _named(naming, run[0]):
                continue
            found = self._run(text, run_words(index, run))
            if found is not None:
                yield found
        if index.has_any(("name is", "i'm", "call me")):
            yield from self._lowercase(text, index)

    def _run(self, text: str, words: list[Word]) -> Match | None:
        stop = self.stop
        i, title = 0, None
        while i < len(words):
            word = words[i][2]
            if word in TITLES:
                title = i if title is None else title
            elif word.lower() in stop:
                title = None
            else:
                break
            i += 1
        j = i
        while j < len(words) and j - i < 4 and self._namelike(words[j][2]):
            j += 1
        if i == j:
            return None
        if j < len(words) and words[j][2].lower() in self.place_words:
            return None  # "Calvin Cove", "Shepherd Ltd": an address or an organisation
        start = words[title if title is not None else i][0]
        end = words[j - 1][1]
        if j < len(words) and words[j][2] in _SUFFIXES:
            end = words[j][1]
        if _after_number(text, start):
            return None  # "0998 Calvin Cove …": a street
        score = self._score([w[2] for w in words[i:j]], title is not None, text, start)
        return Match("PERSON", start, end, score, "pii.person", "2") if score > 0 else None

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
        known_last = last in lex.last_names or last in lex.first_names
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
            return 0.55 if context and len(names) <= 3 else 0.0
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
