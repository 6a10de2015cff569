"""Name, place and word lexicons shipped in the package (built from Faker by
``scripts/build_pii_lexicons.py``)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources

__all__ = ["Lexicons", "country_names", "load_lexicons"]


@dataclass(frozen=True, slots=True)
class Lexicons:
    first_names: frozenset[str]
    last_names: frozenset[str]
    common_words: frozenset[str]
    company_suffixes: frozenset[str]
    street_suffixes: frozenset[str]  # "Street", "Course", "Mews": after the street name
    street_endings: frozenset[str]  # "straße", "gade", "katu": ends of compound street names
    street_prefixes: frozenset[str]  # "Calle", "rue", "Via": before the street name
    places: frozenset[str]  # cities, regions and countries
    english_words: frozenset[str]  # lower-case dictionary words (Webster's Second)


def _read(name: str) -> frozenset[str]:
    data = resources.files("vallum.detectors.pii").joinpath(f"data/{name}.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split("\n")) - {""}


def load_lexicons() -> Lexicons:
    """Read the lexicons (about 60 ms); the detector keeps one copy per instance."""
    common = {w.lower() for w in _read("common_words")} | _EXTRA_COMMON
    return Lexicons(
        first_names=_read("first_names"),
        last_names=_read("last_names"),
        common_words=frozenset(common),
        company_suffixes=_read("company_suffixes"),
        street_suffixes=_read("street_suffixes"),
        street_endings=_read("street_endings"),
        street_prefixes=_read("street_prefixes"),
        places=_read("places"),
        english_words=_read("english_words"),
    )


# Capitalised words that start sentences or name things but are not people.
_EXTRA_COMMON = frozenset(
    [
        "i",
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "my",
        "your",
        "his",
        "her",
        "our",
        "their",
        "its",
        "we",
        "you",
        "he",
        "she",
        "they",
        "it",
        "hi",
        "hello",
        "dear",
        "thanks",
        "thank",
        "please",
        "yes",
        "no",
        "ok",
        "okay",
        "sure",
        "so",
        "and",
        "or",
        "but",
        "if",
        "when",
        "where",
        "what",
        "who",
        "why",
        "how",
        "can",
        "could",
        "would",
        "should",
        "will",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "prof",
        "sir",
        "madam",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "street",
        "road",
        "avenue",
        "suite",
        "apt",
        "name",
        "phone",
        "email",
        "address",
        "card",
        "account",
        "bank",
        "number",
        "user",
        "customer",
        "client",
        "manager",
        "team",
        "support",
        "service",
        "order",
        "ticket",
        "billing",
        "please",
        "note",
        "new",
        "north",
        "south",
        "east",
        "west",
        "united",
        "states",
        "kingdom",
        "america",
        "city",
        "county",
        "state",
        "company",
        "inc",
        "llc",
        "ltd",
        "group",
        "mobile",
        "desk",
        "fax",
        "office",
        "home",
        "work",
        "personal",
        "info",
        "info",
        "date",
        "time",
        "today",
        "tomorrow",
        "summary",
        "summarize",
        "update",
        "updated",
        "record",
        "hello",
        "regards",
        "best",
        "kind",
        "sincerely",
        "subject",
        "re",
        "from",
        "to",
        "cc",
        "bcc",
        "sent",
        "via",
        "on",
        "in",
        "at",
        "by",
        "for",
        "with",
        "about",
        "after",
        "before",
        "during",
        "here",
        "there",
        "god",
        "christmas",
        "easter",
        "internet",
        "english",
        "french",
        "german",
        "spanish",
        "italian",
        "chinese",
    ]
)


def country_names() -> frozenset[str]:
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
