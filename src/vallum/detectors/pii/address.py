"""Street addresses: house number + street name + street type, unit, and locality lines.

The street types come from the lexicons (Faker's address providers: "Street", "Course",
"Mews" after the name; "Calle", "rue", "Via" before it; "straße", "gade", "katu" ending a
compound), joined with the hand-kept lists below; the pattern is compiled once per
recognizer and tried only where an address can begin (``_seek``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator

from vallum.detectors.base import Match, TextIndex
from vallum.detectors.patterns import match_at
from vallum.detectors.pii.lexicons import Lexicons

__all__ = ["AddressRecognizer"]

_SUFFIXES = (  # abbreviations and types Faker's English locales do not list
    "St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Sq|Pkwy|Hwy|Cir|Trl|Ter|Terr|Crt|Cres|Gdns|Gr|Mt|Pt|Hts"
    "|Parkway|Highway|Freeway|Expressway|Trafficway|Stravenue"
)
_EURO_ENDINGS = (  # ends of compound street names, beside the lexicon's ("Hauptstraße")
    "strasse|straße|str\\.|weg|gasse|platz|allee|ring|damm|ufer|katu|tie|kuja|polku|raitti"
    "|vej|gade|allé|laan|straat|gracht|plein|kade|singel|dreef|gatan|vägen|gränd|veien|gata"
    "|utca|útja|tér|körút|ulica|ulice|cesta|sokak|caddesi|vegur|stræti|braut|hove|lei|baan"
)
_PREFIXES = (  # street types before the name, beside the lexicon's
    "Via|Viale|Piazza|Corso|Largo|Rue|Avenue|Boulevard|Bd|Place|Chemin|Allée|Calle|Avenida"
    "|Plaza|Paseo|Camino|Rua|Rúa|Travessa|Praça|Estrada|Ulica|ul\\.|Aleja|Strada|Leoforos"
    "|Odos|Carrer|Avinguda|Passeig|Ronda|Rambla|C/|R\\.|rue|avenue|boulevard|chemin|impasse"
    "|allée|place|quai|route|cours|voie|square|via|calle|rua|piazza"
)
# Street types written after the name and before the number ("Piroska u. 97.").
_AFTER_NAME = r"(?:u\.|utca|út|útja|krt\.|körút|rkp\.|tér|köz|sétány|sor|tee|iela|gatve|rkp)"
_UNIT_WORDS = r"(?:Apt\.?|Apartment|Suite|Unit|Ste\.?|Flat|Floor|Fl\.?|Room|Studio|#)"
_UNIT = rf"(?:,?[ \t]*(?:\n[ \t>]*)?{_UNIT_WORDS}[ \t]*\d+[A-Za-z]?)"
_UP = "A-ZÀ-ÖØ-Þ\u0100-\u017f\u0386-\u03ab\u0410-\u042f"  # Latin, Greek, Cyrillic capitals
_WORD = rf"(?:[a-z]['\u2019])?[{_UP}][\w'\u2019.\-]*"  # "Hugo", "d'Ouchy"
_LOW = (  # linking particles of street names, as whole words
    r"(?:de|del|della|delle|dei|des|du|la|le|les|van|von|der|den|di|da|do|dos|das|y|e|el)"
    r"(?![\w'\u2019])"
)
_NAME = rf"(?:{_WORD}|{_LOW})"  # a word of a street name: capitalised, or a linking particle
_HOUSE = r"\d{1,6}[A-Za-z]?(?:[ \t]+\d{1,5})?"  # "580 60 Balsham Road", "66029 138 Consul Place"
_NUMBER = r"\d{1,4}[A-Za-z]?(?:[\-/]\d{1,4}[A-Za-z]?)?"  # "46/76", "35-73", "12a"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]\d[A-Z]{2}"
# Locality after the street: "City, ST 12345", "78839 Mühlhausen", "Gordonfurt, N0 7PR",
# or up to four short lines (city, region, country); lines may be quoted with ">".
_TAIL = (
    r"(?:(?:,[ \t]*|[ \t]*\n[ \t>]*,?[ \t]*|[ \t]+)"
    rf"(?:{_UK_POSTCODE}(?![\w])"
    rf"|[{_UP}][\w'\u2019.\-]*(?:[ \t]+(?:[{_UP}(][\w'\u2019.()\-]*|{_LOW}|[a-z](?=[ \t]+[{_UP}])))"
    r"{0,3}(?:,?[ \t]+[A-Z]{2})?(?:[ \t]+\d{4,6}(?:-\d{4})?)?"
    r"|[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?|\d{4,6}))"
)
_STOP_TAIL = re.compile(r"\n[ \t]*\n|[:]|\n[ \t>]*(?:Name|Phone|Mobile|Desk|Fax|E-?mail|Tel)\b")
_SEEDS = (
    "Flat",
    "Studio",
    "PSC",
    "Unit",
    "USNS",
    "USNV",
    "USS",
    "USCGC",
    "psc",
    "uss",
    "usns",
    "uscgc",
    "corner of",
)
_PREFIX_LOWER = frozenset(w.replace("\\", "").rstrip(".").lower() for w in _PREFIXES.split("|"))


_Trie = dict[str, "_Trie"]


def _alternation(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, factored as a trie: ``re`` tries alternatives one
    by one, so a flat list of 300 words costs 300 tries where a trie costs a few."""
    trie: _Trie = {}
    for word in sorted({w for w in words if w}):
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_regex(trie)


def _trie_regex(node: _Trie) -> str:
    ends = "" in node
    branches = [re.escape(ch) + _trie_regex(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        return f"(?:{body})?" if len(branches) == 1 else body + "?"
    return body


def _street(suffixes: str, endings: str, prefixes: str) -> str:
    """The street part: one regex alternative per address form."""
    forms = [
        # "2274 Via delle Coste 41", "67, avenue de Pasquier"
        rf"{_HOUSE},?[ \t]+(?:{prefixes})(?:[ \t]+{_NAME}){{1,4}}(?:[ \t]+{_NUMBER})?",
        # "0998 Calvin Cove", "11 Botley Road St.", "931 Kelly Centers"
        rf"{_HOUSE}[ \t]+(?:{_WORD}[ \t]+){{0,4}}(?:{suffixes})\.?(?![\w])"
        rf"(?:[ \t]+{_LOW}(?:[ \t]+{_WORD}){{1,3}})?",  # "Avenue des Tuileries"
        # "Strickstrasse 61", "Anthony-Trub-Allee 928", "Haasegasse 76-73"
        rf"(?:{_HOUSE}[ \t]+)?(?:{_WORD}[ \t]+){{0,3}}[\w'\u2019\-]*(?i:{endings})"
        rf"[ \t]+{_NUMBER}\.?",
        # "Via Roma 131", "ul. Narewska 94"
        rf"(?:{_HOUSE}[ \t]+)?(?:{prefixes})[ \t]+(?:{_NAME}[ \t]+){{0,4}}?{_NUMBER}",
        # "rue Humbert, 37251 Jacquetboeuf": no number, but a postcode and town follow
        rf"(?:{prefixes})(?:[ \t]+{_NAME}){{1,4}}(?=,?[ \t]+\d{{4,5}}[ \t]+[{_UP}])",
        # "Flat 60, Atkins Shores", "Studio 7, Watkins Squares"
        rf"{_UNIT_WORDS}[ \t]*\d{{1,5}}[A-Za-z]?,[ \t]+(?:{_WORD}[ \t]+){{0,3}}"
        rf"(?:{suffixes})(?![\w])",
        # "Piroska u. 97.", "Árpád fejedelem útja 3."
        rf"(?:{_HOUSE}[ \t]+)?{_WORD}(?:[ \t]+[\w\-]+){{0,2}}[ \t]+{_AFTER_NAME}[ \t]+\d{{1,4}}\.?",
        # "28030 Edeby 55", "450 Præstevænget 15"
        rf"{_HOUSE}[ \t]+(?:{_WORD}[ \t]+){{1,3}}{_NUMBER}(?=[ \t]*(?:,|\n|$|Apt|Suite|Unit))",
        # "PSC 1437, Box 3833\nAPO AA 66791"
        r"(?i:(?:PSC|Unit|USNS|USNV|USS|USCGC)[ \t]+[\w \t]{1,20}?,?[ \t]*(?:Box[ \t]+\d{4})?"
        r"[ \t\n]*(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5})",
    ]
    return "|".join(forms)


def _corner(street: str) -> str:
    """ "the corner of Kuusiku 7 and Alexander Flat": an intersection."""
    return (
        rf"(?:[Tt]he[ \t]+)?corner[ \t]+of[ \t]+(?:{street}"
        rf"|(?:{_NAME}[ \t]+){{0,3}}{_WORD}(?:[ \t]+{_NUMBER})?)"
        rf"[ \t]+and[ \t]+(?:{_WORD}[ \t]+){{0,3}}{_WORD}"
    )


_AFTER_HOUSE = frozenset(" \t,")  # what may follow a house number


def _house_number(text: str, end: int) -> bool:
    """A number followed by a street name: a capitalised word, or "ul.", "rue" …"""
    gap = 2 if text[end : end + 2] == ", " else 1  # "67, avenue de Pasquier"
    if text[end + gap - 1 : end + gap] not in (" ", "\t"):
        return False
    if gap == 1 and text[end + 1 : end + 2].isupper():
        return True
    word = text[end + gap : end + gap + 10].split(" ", 1)[0]
    return word.rstrip(".").lower() in _PREFIX_LOWER


class AddressRecognizer:
    """Street addresses; the locality lines after the street are included when they look right."""

    name = "pii.address"
    kinds = frozenset({"STREET_ADDRESS"})

    def __init__(self, lexicons: Lexicons) -> None:
        suffixes = _alternation([*lexicons.street_suffixes, *_SUFFIXES.split("|")])
        ending_words = [*lexicons.street_endings, *_EURO_ENDINGS.replace("\\", "").split("|")]
        endings = _alternation(ending_words)
        prefix_words = [*lexicons.street_prefixes, *_PREFIXES.replace("\\", "").split("|")]
        prefixes = _alternation(prefix_words)
        street = _street(suffixes, endings, prefixes)
        self.pattern = re.compile(
            rf"(?<![\w])(?:{_corner(street)}|{street}){_UNIT}{{0,2}}(?P<tail>(?:{_TAIL}){{0,4}})"
        )
        self.endings = tuple(ending_words)
        self.english = lexicons.english_words
        self.ending_tails = frozenset(e[-3:] for e in ending_words)
        seeds = {w for w in [*prefix_words, *_SEEDS] if w}
        self.capital_seeds = frozenset(w for w in seeds if w[0].isupper())
        # both start with the words themselves (no look-behind), so ``re`` skips ahead to
        # their first letters in C; the word boundary before a hit is checked in Python
        self.capital_seed = re.compile(_alternation(self.capital_seeds))
        lower = _alternation(w for w in seeds if not w[0].isupper())
        self.lower_seed = re.compile(rf"(?:{lower})(?=[ \t.])")

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        for found in match_at(self.pattern, text, self._seek(index)):
            start, end = found.span()
            tail = found.group("tail")
            if tail:
                end = found.start("tail") + _trim_tail(tail)
            if end - start < 6:
                continue
            if text[end - 1] == "." and text[end - 5 : end - 1].isalpha():
                end -= 1  # a sentence's full stop after the town, not "St." or "u. 97."
            score = 0.9 if tail else 0.75
            yield Match("STREET_ADDRESS", start, end, score, "pii.address", "2")

    def _seek(self, index: TextIndex) -> list[int]:
        """Where an address can begin: house numbers, street prefixes, "the corner of",
        and the capitalised words before a number that follows a street-name ending."""
        text, lower = index.text, index.lower
        same = len(lower) == len(text)
        tails, endings = self.ending_tails, self.endings
        starts: list[int] = []
        for pos, end in index.numbers:
            # a house number is followed by a space, a tab or ", " (``_house_number``)
            if text[end : end + 1] in _AFTER_HOUSE and _house_number(text, end):
                starts.append(pos)
            # "…strasse 61": the word before the number ends like a street name
            if (
                same
                and text[pos - 1 : pos] in (" ", "\t")
                and lower[pos - 4 : pos - 1] in tails
                and lower.endswith(endings, 0, pos - 1)
                and not self._english_before(lower, pos - 1)
            ):
                starts += index.cap_starts_between(pos - 48, pos)
        return sorted({*starts, *self._prefix_starts(index)})

    def _english_before(self, lower: str, end: int) -> bool:
        """The word ending at ``end`` is an English word ("During 1971", "bring 2"), not a
        compound street name that merely ends like one ("Hauptstraße 5")."""
        start = max(lower.rfind(" ", max(0, end - 40), end), lower.rfind("\n", 0, end)) + 1
        return lower[start:end] in self.english

    def _prefix_starts(self, index: TextIndex) -> list[int]:
        """Street-type words before a name ("Calle", "Via", "rue", "ul."), military
        units and "the corner of" — looked for only in the ``_REACH`` characters before a
        number, since every address has one (house number, postcode or box)."""
        text = index.text
        windows = _windows(index.numbers)
        if not windows:
            return []
        found: list[int] = []
        for lo, hi in windows:
            for hit in self.lower_seed.finditer(text, lo, hi):
                pos = hit.start()
                if pos and not _word_char(text[pos - 1]):
                    found.append(pos)
        if self.lower_seed.match(text[:16]):
            found.append(0)
        found += [pos - 4 for pos in found if text[pos - 4 : pos] in ("the ", "The ")]
        return found + self._capital_starts(index, windows)

    def _capital_starts(self, index: TextIndex, windows: list[tuple[int, int]]) -> list[int]:
        """Capitalised street-type words ("Calle", "Via") that are a word of a run of
        capitalised words beginning within a window."""
        text, runs = index.text, index.cap_runs
        if not runs:
            return []
        run_starts = [lo for lo, _ in runs]
        lows = [lo for lo, _ in windows]
        search = self.capital_seed.search
        found: list[int] = []
        for lo, hi in windows:
            # a hit is a word of a run that begins in the window: it lies before the end
            # (and the character after it) of the last run beginning there
            last = bisect_right(run_starts, hi - 1) - 1
            stop = max(hi, runs[last][1] + 1) if last >= 0 else hi
            hit = search(text, lo, stop)
            while hit is not None:
                pos = hit.start()
                k = bisect_right(run_starts, pos) - 1
                if k >= 0 and self._run_word(text, runs[k], pos, windows, lows):
                    found.append(pos)
                hit = search(text, pos + 1, stop)
        return found

    def _run_word(
        self,
        text: str,
        run: tuple[int, int],
        pos: int,
        windows: list[tuple[int, int]],
        lows: list[int],
    ) -> bool:
        """``pos`` starts a space-separated word of ``run`` (the run's next character
        included) that is a street-type word, and the run begins within a window."""
        lo, hi = run
        if pos > hi or (pos != lo and text[pos - 1] != " "):
            return False
        i = bisect_right(lows, lo) - 1
        if i < 0 or windows[i][1] <= lo:
            return False  # no number follows closely
        space = text.find(" ", pos, hi + 1)
        word = text[pos : space if space >= 0 else min(hi + 1, len(text))]
        return word.rstrip(",") in self.capital_seeds


_REACH = 64  # characters from a street-type word to the address's first number


def _windows(numbers: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The merged spans of ``_REACH`` characters before each number."""
    merged: list[tuple[int, int]] = []
    for start, _ in numbers:
        lo = max(0, start - _REACH)
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], start)
        else:
            merged.append((lo, start))
    return merged


def _word_char(char: str) -> bool:
    """What ``\\w`` matches in a ``str`` pattern."""
    return char.isalnum() or char == "_"


def _trim_tail(tail: str) -> int:
    """Stop the locality at a blank line or a labelled field ("Phone:")."""
    stop = _STOP_TAIL.search(tail)
    return len(tail) if stop is None else stop.start()
