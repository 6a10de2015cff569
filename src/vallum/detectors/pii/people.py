"""Person names from lexicons, titles, context phrases and capitalisation.

Works on the pre-filter's runs of capitalised words (``TextIndex.cap_runs``): every
decision is a set lookup per word, no regex per candidate.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator

from vallum.detectors.base import Match, TextIndex
from vallum.detectors.pii.lexicons import Lexicons, country_names
from vallum.detectors.pii.names_lower import LowerCaseNames
from vallum.detectors.pii.words import (
    NOT_NAMES,
    ORG_WORDS,
    STREET_WORDS,
    SUFFIXES,
    TITLES,
    title_at,
)

__all__ = ["PersonRecognizer", "Word", "run_words"]

# Phrases right before a name that make an unknown capitalised word a name.
_STRONG_BEFORE = frozenset(
    ["my name is", "name is", "name", "i'm", "i am", "this is", "dear", "said", "named",
     "called", "signed", "attn", "regards", "sincerely", "thanks", "hi", "hello", "hey", "ask",
     "tell", "told", "meet", "met", "with", "by", "contact", "assistant to", "patient",
     "customer", "client", "employee", "guardian", "son", "daughter", "wife", "husband",
     "mother", "father", "brother", "sister", "friend", "says", "starring", "cheers",
     "thank you", "call me", "calls me", "according to", "interview with"]
)  # fmt: skip
# Cues after which even a word no lexicon knows is a name when it ends a phrase
# ("Hi Manlio,", "Thanks, Oisín!", "call me Piusz"): greetings, sign-offs, naming.
_GREETING_ENDS = ("hi", "hello", "hey", "dear", "thanks", "thank you", "cheers", "regards",
                  "call me", "calls me", "name is", "named", "signed", "sincerely", "says",
                  "said", "asked", "replied", "last name", "first name", "surname",
                  "full name", "mr", "mrs", "ms", "dr", "miss")  # fmt: skip
# Cues that make a lone known surname a person ("says Becker", "Dear Nielsen"); weaker
# ones of ``_STRONG_BEFORE`` ("with", "by", "this is") also come before products.
_SURNAME_CUES = frozenset(
    ["said", "says", "asked", "told", "replied", "according to", "starring",
     "directed by", "interview with", "dear", "hi", "hello", "thanks", "thank you", "regards",
     "signed", "named", "called", "name is", "surname", "last name", "assistant to"]
)  # fmt: skip
_BEFORE_GREETED = frozenset(" \n,:\t")  # last character of a cue and what follows it
_PHRASE_END = frozenset(",!:;\n.?")  # what may follow a lone name after a greeting
# Buildings and works after a first name are no surname: "Christ Church", "Roman Wall".
_LANDMARKS = frozenset(
    ["church", "chapel", "cathedral", "abbey", "temple", "mosque", "synagogue", "palace",
     "castle", "tower", "hall", "bridge", "wall", "gate", "field", "stadium", "arena"]
)  # fmt: skip
_LATER = 64  # look-behind for an earlier full name: the stream context the output filter keeps
# A name particle after a run: "Schenkel-van Vlaanderen", "Berthelot de la Brunel".
_PARTICLE_INITIALS = frozenset("vdlta" + "e")  # "van", "de", "la", "ter", "al", "el"
_PARTICLE_TAIL = re.compile(
    r"(?:-|[ \t])(?:van der|van den|van de|de la|de los|del|della|van|von|de|di|da|du|dos|"
    r"le|la|ter|ten|al|el)(?:-|[ \t])[A-ZÀ-ÖØ-Þ\u0100-\u017f][^\W\d_]+"
)
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


class PersonRecognizer:
    """Runs of capitalised words scored by first/last-name lexicons, titles and context."""

    kinds = frozenset({"PERSON"})

    def __init__(self, lexicons: Lexicons) -> None:
        self.lex = lexicons
        names = lexicons.first_names | lexicons.last_names
        # street types that are nobody's name ("Track", "Course"; not "Ford", "Chase")
        streets = {w.lower() for w in lexicons.street_suffixes if w not in names}
        self.countries = country_names()
        self.stop = (
            lexicons.common_words | ORG_WORDS | STREET_WORDS | NOT_NAMES | self.countries
        ) | streets
        self.lower = LowerCaseNames(lexicons, self.stop)
        self.place_words = (ORG_WORDS | STREET_WORDS | streets) - _UNITS
        self.street_before = {w.lower().rstrip(".") for w in lexicons.street_prefixes}
        self.places = lexicons.places

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        for run in self._worth_a_look(index):
            found = self._run(text, run_words(index, run))
            if found is not None:
                yield found
        yield from self.lower.find(text, index)

    def _worth_a_look(self, index: TextIndex) -> list[tuple[int, int]]:
        """The runs that may be a name. Most runs are one word (sentence-initial, a
        place): such a word must be a known first name of 3+ letters that is not a
        common word, follow a naming cue ("name is Josefsen"), or pass ``_lone``. One
        comprehension rather than a loop: this is the hot path of prose."""
        text, stop, first, lone = index.text, self.stop, self.lex.first_names, self._lone
        runs = index.cap_runs
        if not index.has_any(_NAMING_CUES):
            return [
                (lo, hi)
                for lo, hi in runs
                if not (word := text[lo:hi]).isalpha()
                or (
                    len(word) > 2
                    and word.lower() not in stop
                    and (word in first or lone(text, lo, hi, word))
                )
            ]
        naming = _cue_ends(index)
        return [
            (lo, hi)
            for lo, hi in runs
            if not (word := text[lo:hi]).isalpha()
            or (
                len(word) > 2
                and word.lower() not in stop
                and (word in first or _named(naming, lo) or lone(text, lo, hi, word))
            )
        ]

    def _lone(self, text: str, lo: int, hi: int, word: str) -> bool:
        """A lone word that no first-name list knows: a known surname after a cue
        ("says Becker") or a word no dictionary knows after a greeting ("Hi Manlio,"),
        either one a repeat of a full name just before ("… Maciej Borkowski and starring
        Borkowski")."""
        if word in self.lex.last_names:
            return _cued(text, lo, _SURNAME_CUES) or self._earlier(text, lo, word)
        if not word[1:].islower():
            return False
        cued = _greeted(text, lo, hi) or (
            text.find(word, max(0, lo - _LATER), lo) >= 0 and self._earlier(text, lo, word)
        )
        return cued and not self.lower.english(word.lower())  # the dictionary last: rarest

    def _earlier(self, text: str, lo: int, word: str) -> bool:
        """``word`` ended a "First Last" or "First I. Last" name in the ``_LATER``
        characters before ``lo`` — no further: a stream window sees that much context."""
        window = text[max(0, lo - _LATER) : lo]
        k = window.rfind(word) if word in window else -1
        while k > 1:
            after = window[k + len(word) : k + len(word) + 1]
            if window[k - 1] == " " and not after.isalpha():
                before = window[: k - 1].rsplit(None, 1)
                prev = before[-1].rstrip(".") if before else ""
                if prev in self.lex.first_names and prev.lower() not in self.stop:
                    return True
            k = window.rfind(word, 0, k)
        return False

    def _run(self, text: str, words: list[Word]) -> Match | None:
        stop = self.stop
        words = words[title_at(words) :]  # "Patient Mrs Deborah Burton": it starts at the title
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
        if i == len(words) or _after_number(text, words[title if title is not None else i][0]):
            return None  # "0998 Calvin Cove …": a street (decided before the costlier checks)
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
        if j - i == 1 and words[i][2] in self.lex.first_names:
            j = self._surname_after(words, j)
        if j < len(words) and words[j][2].lower() in self.place_words:
            return None  # "Calvin Cove", "Shepherd Ltd": an address or an organisation
        if title is None and self._place(
            text, words[:j] if self._place_lead(words[:i]) else words[i:j]
        ):
            return None
        start = words[title if title is not None else i][0]
        end = self._end(text, words, i, j)
        score = self._score([w[2] for w in words[i:j]], title is not None, text, start)
        return Match("PERSON", start, end, score, "pii.person", "2") if score > 0 else None

    def _end(self, text: str, words: list[Word], i: int, j: int) -> int:
        """Where the name ``words[i:j]`` ends: after a suffix ("MD", "Jr") or a particle
        and surname the run left out ("Stijn Schenkel-van Vlaanderen")."""
        if j < len(words) and words[j][2] in SUFFIXES:
            return words[j][1]
        end = words[j - 1][1]
        if j == len(words) and text[end + 1 : end + 2] in _PARTICLE_INITIALS:
            tail = _PARTICLE_TAIL.match(text, end)
            if tail is not None and self._particled(words[i:j]):
                return tail.end()
        return end

    def _particled(self, names: list[Word]) -> bool:
        """A name a particle may continue: it starts with a first name that is no word."""
        first = names[0][2]
        return first in self.lex.first_names and first.lower() not in self.lex.english_words

    def _surname_after(self, words: list[Word], j: int) -> int:
        """After a known first name: a surname that is also a word ("Ivan King", "Zoe
        Young"), or an initial without its full stop and a surname ("Martim A Pereira")."""
        if j >= len(words):
            return j
        nxt = words[j][2]
        if len(nxt) == 1 and nxt.isupper() and j + 1 < len(words):
            return j + 2 if self._surname(words[j + 1][2]) else j
        if not self._surname(nxt) or (len(nxt) < 4 and nxt.lower() in self.lex.common_words):
            return j
        # a surname that is also a word ("King") only after a first name that is not one:
        # "Ivan King", but "Chase Field", "Love Story"
        english = self.lex.english_words
        if nxt.lower() in english and words[j - 1][2].lower() in english:
            return j
        return j + 1

    def _surname(self, word: str) -> bool:
        lowered = word.lower()
        return (
            word in self.lex.last_names
            and not word.isupper()
            and lowered not in self.place_words
            and lowered not in _LANDMARKS
            and lowered not in self.countries
        )

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
            cued = _cued(text, start, _SURNAME_CUES) or self._earlier(text, start, first)
            return 0.6 if cued else 0.0
        naming = _NAMING.search(text[max(0, start - 24) : start].lower()) is not None
        if naming:
            return 0.6  # "her maiden name is Josefsen": named outright
        if self.lower.english(first.lower()):
            return 0.0
        end = start + len(first)
        return 0.6 if _greeted(text, start, end) or self._earlier(text, start, first) else 0.0


def _known_parts(lex: Lexicons, name: str) -> bool:
    """A double-barrelled surname one of whose parts is known ("Hayes-Bennett")."""
    return "-" in name and any(p in lex.last_names for p in name.split("-"))


def _cued(text: str, start: int, cues: frozenset[str] = _STRONG_BEFORE) -> bool:
    """One of the ``cues`` (1-3 words, ``_STRONG_BEFORE`` by default) ends right before
    ``start``: a set lookup of the last one, two and three words, no regex."""
    words = text[max(0, start - 24) : start].lower().rstrip(_TRAILING).split()[-3:]
    return any(" ".join(words[-n:]) in cues for n in (1, 2, 3) if len(words) >= n)


def _greeted(text: str, start: int, end: int) -> bool:
    """A greeting, sign-off or naming cue right before, and the end of a phrase right
    after ("Hi Manlio,", "Regards,\nOisín", "people call me Piusz")."""
    if end < len(text) and text[end] not in _PHRASE_END:
        return False
    if text[start - 1 : start] not in _BEFORE_GREETED:
        return False  # "…, Alishabury," "the Paxata." : no cue can end right before
    words = text[max(0, start - 16) : start].lower().rstrip(_TRAILING).split()[-2:]
    return bool(words) and (words[-1] in _GREETING_ENDS or " ".join(words) in _GREETING_ENDS)


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
