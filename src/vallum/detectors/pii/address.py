"""Street addresses: house number + street word (English and European forms) + unit + locality."""

from __future__ import annotations

import re
from collections.abc import Iterator

from vallum.detectors.base import Match, TextIndex, match_at

__all__ = ["AddressRecognizer"]

_SUFFIXES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|Sq"
    "|Terrace|Way|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Crescent|Close|Grove|Gardens"
    "|Park|Row|Walk|Hill|Heights|Ridge|View|Valley|Point|Plaza|Mall|Loop|Path|Pike|Run|Pass"
    "|Cove|Creek|Crossing|Estates|Extension|Field|Fields|Forge|Forges|Fort|Freeway|Glen"
    "|Green|Harbor|Haven|Island|Junction|Key|Knoll|Lake|Lakes|Landing|Light|Lights|Lodge"
    "|Manor|Meadow|Meadows|Mill|Mills|Mission|Mount|Mountain|Neck|Orchard|Oval|Pines|Plains"
    "|Port|Prairie|Ranch|Rapids|Rest|Route|Shoal|Shoals|Shore|Shores|Spring|Springs|Spur"
    "|Station|Stravenue|Stream|Summit|Trace|Track|Trafficway|Tunnel|Turnpike|Underpass"
    "|Union|Vista|Village|Ville|Wall|Wells|Alley|Arcade|Bypass|Causeway|Center|Centre"
    "|Common|Corner|Corners|Expressway|Ferry|Ford|Fork|Forks|Gateway|Gateway|Burg|Burgs"
    "|Bridge|Brook|Brooks|Branch|Camp|Canyon|Cape|Cliff|Cliffs|Club|Crest|Curve|Dale|Dam"
    "|Divide|Estate|Falls|Flat|Flats|Garden|Gateway|Harbors|Hills|Hollow|Inlet|Islands"
    "|Isle|Locks|Motorway|Overpass|Parks|Passage|Plain|Radial|Ramp|Skyway|Squares|Streets"
    "|Throughway|Viaduct|Views|Ways|Well"
)
_EURO_ENDINGS = (
    "strasse|straße|str\\.|weg|gasse|platz|allee|ring|damm|ufer|katu|tie|kuja|polku|raitti"
    "|vej|gade|allé|laan|straat|gracht|plein|kade|singel|dreef|gatan|vägen|gränd|veien|gata"
    "|utca|útja|tér|körút|ulica|ulice|cesta|sokak|caddesi|vegur|stræti|braut|gasse"
)
_PREFIXES = (
    "Via|Viale|Piazza|Corso|Largo|Rue|Avenue|Boulevard|Bd|Place|Chemin|Allée|Calle|Avenida"
    "|Plaza|Paseo|Camino|Rua|Travessa|Praça|Estrada|Ulica|ul\\.|Aleja|Strada|Leoforos|Odos"
)
_UNIT = (
    r"(?:,?[ \t]*(?:\n[ \t]*)?(?:Apt\.?|Apartment|Suite|Unit|Ste\.?|Flat|Floor|Fl\.?|Room|#)"
    r"[ \t]*\d+[A-Za-z]?)"
)
_UP = "A-ZÀ-ÖØ-Þ\u0100-\u017f\u0391-\u03a9\u0410-\u042f"  # Latin, Greek, Cyrillic capitals
_WORD = rf"(?:[a-z]['\u2019])?[{_UP}][\w'\u2019.\-]*"  # "Hugo", "d'Ouchy"
_LOW = (  # linking particles of street names, as whole words
    r"(?:de|del|della|delle|dei|des|du|la|le|les|van|von|der|den|di|da|do|dos|das|y|e|el)"
    r"(?![\w'\u2019])"
)
_NAME = rf"(?:{_WORD}|{_LOW})"  # a word of a street name: capitalised, or a linking particle
_HOUSE = r"\d{1,6}[A-Za-z]?(?:[ \t]+\d{1,5})?"  # "580 60 Balsham Road", "66029 138 Consul Place"
_STREET = (
    rf"(?:{_HOUSE}[ \t]+(?:{_PREFIXES})(?:[ \t]+{_NAME}){{1,4}}(?:[ \t]+\d{{1,4}}[A-Za-z]?)?"
    rf"|{_HOUSE}[ \t]+(?:{_WORD}[ \t]+){{0,4}}(?:{_SUFFIXES})\.?(?![\w])"
    rf"(?:[ \t]+{_LOW}(?:[ \t]+{_WORD}){{1,3}})?"  # "Avenue des Tuileries"
    rf"|(?:{_HOUSE}[ \t]+)?(?:{_WORD}[ \t]+){{0,3}}[\w'\u2019\-]*(?:{_EURO_ENDINGS})[ \t]+\d{{1,4}}[A-Za-z]?\.?"  # noqa: E501 - one regex alternative per line
    rf"|(?:{_HOUSE}[ \t]+)?(?:{_PREFIXES})[ \t]+(?:{_NAME}[ \t]+){{0,4}}?\d{{1,4}}[A-Za-z]?"
    rf"|{_HOUSE}[ \t]+(?:{_WORD}[ \t]+){{1,3}}\d{{1,5}}[A-Za-z]?(?=[ \t]*(?:,|\n|$|Apt|Suite|Unit))"
    r"|(?i:(?:PSC|Unit|USNS|USNV|USS|USCGC)[ \t]+[\w \t]{1,20}?,?[ \t]*(?:Box[ \t]+\d{4})?"
    r"[ \t\n]*(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}))"
)
# Locality after the street: "City, ST 12345", or up to four short lines (city, region, country).
_TAIL = (
    r"(?:(?:,[ \t]*|[ \t]*\n[ \t]*,?[ \t]*|[ \t]+)"
    rf"(?:[{_UP}][\w'\u2019.\-]*(?:[ \t]+[{_UP}(][\w'\u2019.()\-]*){{0,3}}(?:,?[ \t]+[A-Z]{{2}})?(?:[ \t]+\d{{4,6}}(?:-\d{{4}})?)?"  # noqa: E501 - one regex alternative per line
    r"|[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?|\d{4,6}))"
)
_ADDRESS = re.compile(rf"(?<![\w])(?:{_STREET}){_UNIT}?(?P<tail>(?:{_TAIL}){{0,4}})")
_MILITARY = "PSC|Unit|USNS|USNV|USS|USCGC"
# Pre-filter: a street prefix or military unit word ("Via Roma 131", "PSC 1437"), found by
# one regex that ``re`` scans by first character; numbers come from the shared index.
_PREFIX_SEED = re.compile(rf"(?:{_PREFIXES}|{_MILITARY}|psc|uss)(?=[ \t.])")
_PREFIX_LOWER = frozenset(w.rstrip("\\.").lower() for w in _PREFIXES.split("|"))
_ENDINGS = tuple(e.replace("\\.", ".") for e in _EURO_ENDINGS.split("|"))


def _seek(index: TextIndex) -> list[int]:
    """Where an address can begin: house numbers, street prefixes, and the capitalised
    words before a number that follows a street-name ending ("Hauptstraße 5")."""
    text, lower = index.text, index.lower
    same = len(lower) == len(text)
    starts: list[int] = []
    for pos, end in index.numbers:
        if _house_number(text, end):
            starts.append(pos)
        # "…strasse 61": the word before the number ends like a street name
        if same and pos > 1 and text[pos - 1] in " \t" and lower.endswith(_ENDINGS, 0, pos - 1):
            starts += index.cap_starts_between(pos - 48, pos)
    starts += [
        m.start()
        for m in _PREFIX_SEED.finditer(text)
        if m.start() == 0 or not text[m.start() - 1].isalnum()
    ]
    return sorted(set(starts))


def _house_number(text: str, end: int) -> bool:
    """A number followed by a street name: a capitalised word, or "ul.", "rue" …"""
    if text[end : end + 1] not in (" ", "\t"):
        return False
    if text[end + 1 : end + 2].isupper():
        return True
    word = text[end + 1 : end + 8].split(" ", 1)[0]
    return word.rstrip(".").lower() in _PREFIX_LOWER


class AddressRecognizer:
    """Street addresses; the locality lines after the street are included when they look right."""

    kinds = frozenset({"STREET_ADDRESS"})

    def find(self, text: str, index: TextIndex | None = None) -> Iterator[Match]:
        index = index or TextIndex(text)
        for found in match_at(_ADDRESS, text, _seek(index)):
            start, end = found.span()
            tail = found.group("tail")
            if tail:
                end = found.start("tail") + _trim_tail(tail)
            if end - start < 6:
                continue
            score = 0.9 if tail else 0.75
            yield Match("STREET_ADDRESS", start, end, score, "pii.address", "1")


_STOP_TAIL = re.compile(r"\n[ \t]*\n|[:]|\n[ \t]*(?:Name|Phone|Mobile|Desk|Fax|E-?mail|Tel)\b")


def _trim_tail(tail: str) -> int:
    """Stop the locality at a blank line or a labelled field ("Phone:")."""
    stop = _STOP_TAIL.search(tail)
    return len(tail) if stop is None else stop.start()
