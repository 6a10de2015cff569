"""Build the name / word lexicons shipped in ``vallum/detectors/pii/data`` from Faker.

Run with Faker installed (a dev-time tool only; the gateway never imports Faker):
``.venv/bin/python scripts/build_pii_lexicons.py``. Output is deterministic (sorted).
"""

from __future__ import annotations

import gzip
import importlib
import pkgutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "src/vallum/detectors/pii/data"


def _strings(value: Any) -> list[str]:
    try:
        return [item for item in value if isinstance(item, str)]
    except TypeError:
        return []


def _providers(package: str) -> Iterable[Any]:
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        yield importlib.import_module(f"{package}.{info.name}").Provider


def _write(name: str, words: Iterable[str]) -> None:
    clean = sorted({w.strip() for w in words if w.strip() and "{" not in w})
    data = ("\n".join(clean) + "\n").encode("utf-8")
    (OUT / f"{name}.txt.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"{name}: {len(clean)}")


def main() -> None:
    first: set[str] = set()
    last: set[str] = set()
    for provider in _providers("faker.providers.person"):
        for attr in ("first_names", "first_names_male", "first_names_female"):
            first.update(_strings(getattr(provider, attr, ())))
        last.update(_strings(getattr(provider, "last_names", ())))
    latin = {
        w for w in first | last if (w.isalpha() and w[0].isupper() and w.isascii()) or _latin(w)
    }
    _write("first_names", (w for w in first if w in latin and len(w) > 1))
    _write("last_names", (w for w in last if w in latin and len(w) > 1))
    companies: set[str] = set()
    for provider in _providers("faker.providers.company"):
        companies.update(_strings(getattr(provider, "company_suffixes", ())))
    _write("company_suffixes", companies)
    from faker.providers.lorem.en_US import Provider as Lorem

    _write("common_words", Lorem.word_list)


def _latin(word: str) -> bool:
    return (
        all((ch.isalpha() and ord(ch) < 0x250) or ch in "-'" for ch in word) and word[:1].isupper()
    )


if __name__ == "__main__":
    main()
