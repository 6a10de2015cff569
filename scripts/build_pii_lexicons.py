"""Build the name / place / word lexicons shipped in ``vallum/detectors/pii/data`` from Faker.

Run with Faker and english-words installed (dev-time tools; the gateway imports neither):
``.venv/bin/python scripts/build_pii_lexicons.py``. Output is deterministic (sorted).

Every locale's person provider gives first and last names (all of its ``*first_name*``
and ``*last_name*`` lists, not only ``first_names``/``last_names``); Cyrillic and Greek
names are transliterated to Latin, Slavic surnames get their feminine forms, and every
name also gets an accent-free spelling. The address providers give street suffixes and
prefixes, and city / region / country names (used to tell places from people).
"""

from __future__ import annotations

import gzip
import importlib
import pkgutil
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "src/vallum/detectors/pii/data"

# BGN/PCGN-style romanisation: how these names are usually spelt in English text.
_CYRILLIC_LATIN = (
    "a b v g d e yo zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya i ye yi g w"
)
_GREEK_LATIN = "a v g d e z i th i k l m n x o p r s s t y f ch ps o a e i i o y o i y i y"
_CYRILLIC = dict(
    zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюяієїґў", _CYRILLIC_LATIN.split(), strict=True)
)
_GREEK = dict(zip("αβγδεζηθικλμνξοπρσςτυφχψωάέήίόύώϊϋΐΰ", _GREEK_LATIN.split(), strict=True))
_SHORT_ENDINGS = ("vej", "weg", "tie", "tér", "köz")  # three-letter street words kept


# Locales whose street prefixes are street-type words ("Calle", "Rua", "Via"); fi_FI's are names.
_PREFIX_LOCALES = ("es", "pt", "it", "fr", "ro", "pl", "cs", "sk", "hr", "sl", "de", "nl", "el")


def _strings(value: Any) -> list[str]:
    try:
        return [item for item in value if isinstance(item, str)]
    except TypeError:
        return []


def _providers(package: str) -> Iterable[Any]:
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        yield importlib.import_module(f"{package}.{info.name}").Provider


def _lists(package: str, *needles: str, locales: tuple[str, ...] = ()) -> Iterator[str]:
    """Every string of every list attribute whose name contains one of ``needles``
    (in the ``locales`` given, else in all)."""
    for provider in _providers(package):
        if locales and not provider.__module__.rsplit(".", 1)[-1].startswith(locales):
            continue
        for attr, value in vars(provider).items():
            if any(n in attr for n in needles) and "format" not in attr:
                yield from _strings(value)


def _romanise(word: str) -> str | None:
    table = _CYRILLIC if any("\u0400" <= ch <= "\u04ff" for ch in word) else _GREEK
    if not any(ch.lower() in table for ch in word):
        return None
    out = "".join(table.get(ch.lower(), ch) for ch in word).replace("-", "")
    return out[:1].upper() + out[1:] if out.isalpha() else None


def _feminine(surname: str) -> Iterator[str]:
    """Polish / Czech / Russian feminine surnames ("Kowalski" → "Kowalska")."""
    for male, female in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka"), ("ý", "á")):
        if surname.endswith(male):
            yield surname[: -len(male)] + female
    for male in ("ov", "ev", "in", "yn"):
        if surname.endswith(male):
            yield surname + "a"


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _latin(word: str) -> bool:
    return (
        all((ch.isalpha() and ord(ch) < 0x250) or ch in "-'" for ch in word) and word[:1].isupper()
    )


def _names(raw: Iterable[str], feminine: bool = False) -> set[str]:
    out: set[str] = set()
    for word in raw:
        for part in word.split():
            latin = part if _latin(part) else _romanise(part)
            if latin is None or len(latin) < 2 or not _latin(latin):
                continue
            forms = {latin, *(_feminine(latin) if feminine else ())}
            out |= forms | {_fold(f) for f in forms}
    return out


def _write(name: str, words: Iterable[str]) -> None:
    clean = sorted({w.strip() for w in words if w.strip() and "{" not in w and "#" not in w})
    data = ("\n".join(clean) + "\n").encode("utf-8")
    (OUT / f"{name}.txt.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"{name}: {len(clean)}")


def main() -> None:
    person = "faker.providers.person"
    first = _names(_lists(person, "first_name", "first_romanized", "middle_name"))
    last = _names(_lists(person, "last_name", "last_romanized"), feminine=True)
    _write("first_names", first)
    _write("last_names", last)
    _write("company_suffixes", _lists("faker.providers.company", "company_suffixes"))
    address = "faker.providers.address"
    # Street-type words after the name ("Peter Course"): English-speaking locales; word
    # endings of compounds ("Søndergade"); and words before the name ("rue", "Calle").
    english = ("en_US", "en_GB", "en_AU", "en_CA", "en_NZ", "en_IE")
    suffixes = _lists(address, "street_suffix", locales=english)
    _write("street_suffixes", (w for w in map(str.strip, suffixes) if w.isalpha() and w.istitle()))
    endings = (w.strip().rstrip(".") for w in _lists(address, "street_suffix", "road_suffix"))
    _write(
        "street_endings",
        (w for w in endings if w.isalpha() and w.islower() and (len(w) > 3 or w in _SHORT_ENDINGS)),
    )
    prefixes = _lists(address, "street_prefix", locales=_PREFIX_LOCALES)
    _write(
        "street_prefixes",
        (w.strip() for w in prefixes if _latin(w.strip().rstrip(".").capitalize())),
    )
    places = _lists(
        address, "cities", "city_names", "states", "countries", "provinces", "regions", "counties"
    )
    _write("places", (p for p in places if _latin(p.replace(" ", "").replace(".", ""))))
    from faker.providers.lorem.en_US import Provider as Lorem

    _write("common_words", Lorem.word_list)
    # Webster's Second (public domain, via the ``english-words`` package): its lower-case
    # entries are common words; its capitalised ones (proper nouns) are left out.
    from english_words import get_english_words_set

    web2 = get_english_words_set(["web2"], lower=False, alpha=True)
    _write("english_words", (w for w in web2 if w.islower() and len(w) >= 3))


if __name__ == "__main__":
    main()
