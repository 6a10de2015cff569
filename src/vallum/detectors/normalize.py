"""Text normalization before detection: undo the tricks attackers use to hide words.

NFKC, invisible and bidi controls removed, homoglyphs folded, spaced letters and
punctuation runs collapsed, and embedded encodings (base64, hex, URL-encoding, Unicode
tag characters, rot13, leetspeak) decoded with caps on depth and size. The evasions found
on the way are reported: hiding text is itself a signal.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Evasion", "NormalizeConfig", "Normalized", "Normalizer"]

_INVISIBLE = re.compile("[\u200b-\u200d\u2060-\u2064\ufeff\u00ad\u180e\u034f\ufe00-\ufe0f]")
_BIDI = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
# One pass finds whether any of the three kinds of hidden characters is present at all.
_HIDDEN = re.compile(
    "[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e\u034f\ufe00-\ufe0f\u061c"
    "\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]"
)
_WORD_CHAR = re.compile(r"\w*")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# Starts at a separator (cheap to scan for); the text is padded with one space in front.
_SPACED = re.compile(r"(?<=[ .\-_*|/+\n])[A-Za-z](?:[ .\-_*|/+]{1,2}[A-Za-z]){3,}(?![A-Za-z])")
# The same run with its separator consumed instead of looked behind: twice as fast to
# search for, and it occurs exactly where _SPACED does (the pre-filter of _collapse).
_SPACED_HINT = re.compile(r"[ .\-_*|/+\n][A-Za-z](?:[ .\-_*|/+]{1,2}[A-Za-z]){3,}(?![A-Za-z])")
_SPACED_SEP = re.compile(r"[ .\-_*|/+]")
_HSPACE_OTHER = "\t\f\v\u00a0"  # horizontal whitespace other than the space
_SPACES = re.compile("  +")
_BLANK_LINES = re.compile(r"\n\s*\n")
_PUNCT_RUN = re.compile(r"([!-/:-@\[-`{-~])\1{3,}")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"[0-9a-fA-F][0-9a-fA-F:, ]{19,}")
_HEX_ESCAPED = re.compile(r"(?:\\x[0-9a-fA-F]{2}){6,}")
_HEX_JUNK = re.compile(r"\\x|0x|[\s:,]")
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_ASCII_CHAR = re.compile(r"[\x00-\x7f]")
_LEET_TOKEN = re.compile(r"\b[a-z0-9@$]*[a-z][013457@$]+[a-z][a-z0-9@$]*\b")
_LEET_CORE = re.compile(r"[a-z][013457@$]+[a-z]")  # every _LEET_TOKEN holds one: pre-filter
_LEET = str.maketrans("013457@$", "oieastas")
_LEET_MAX = 20  # leetspeak words are short; longer mixed tokens are ids and hashes
_ROT13_HINT = re.compile(r"\brot-?13\b", re.IGNORECASE)
_STOPWORD_TEXT = (
    "the a an and or of to in is are you your i me my it this that for with on be not what"
    " all do any now from as at by have will can tell give show please"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_STOPWORDS_BYTES = frozenset(word.encode() for word in _STOPWORDS)
# the words whose rot13 is a stop word: the stop ratio of the rotated text, without rotating
_ROT13_STOPWORDS = frozenset(codecs.encode(word, "rot13").encode() for word in _STOPWORDS)


def _byte_classes(*classes: tuple[str, str]) -> bytes:
    """A bytes.translate table: each ASCII character of a class to its mark, all else to '.'.

    Every class holds only ASCII characters and UTF-8 encodes all other characters with bytes
    >= 0x80, so a run of marks in the translated UTF-8 is exactly a run of the class in the
    text: one C pass answers "can this regex match at all?" before the regex runs.
    """
    table = bytearray(b"." * 256)
    for chars, mark in classes:
        for char in chars:
            table[ord(char)] = ord(mark)
    return bytes(table)


_LOWER = "abcdefghijklmnopqrstuvwxyz"
_LETTERS = _LOWER + _LOWER.upper()
_PUNCT_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum())
_PUNCT_MARKS = _byte_classes((_PUNCT_CHARS, "p"))  # _PUNCT_RUN needs "pppp"
_SPACED_MARKS = _byte_classes((_LETTERS, "a"), (" .-_*|/+", "s"))  # see _collapse
_BASE64_MARKS = _byte_classes((_LETTERS + "0123456789+/_-", "b"))  # _BASE64 needs 16 "b"
_HEX_MARKS = _byte_classes(("0123456789abcdefABCDEF:, ", "h"))  # _HEX needs 20 "h"
_WORD_BYTES = bytes(c if chr(c) in _LOWER else 32 for c in range(256))  # [a-z] runs kept
_LEET_MARKS = _byte_classes((_LOWER, "a"), ("013457@$", "1"))  # _LEET_CORE needs "a1", "1a"


class NormalizeConfig(BaseModel):
    """Caps and switches for normalization."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_depth: int = Field(2, ge=0, le=4, description="How many encodings deep to decode.")
    max_decoded_chars: int = Field(
        65536, ge=0, le=4_000_000, description="Most decoded characters kept per text."
    )
    max_candidates: int = Field(
        64, ge=0, le=4096, description="Most encoded candidates tried per text and level."
    )
    rot13_sample_chars: int = Field(
        20000, ge=0, le=1_000_000, description="Characters sampled to recognise rot13 text."
    )


@dataclass(frozen=True, slots=True)
class Evasion:
    """One kind of hiding found in a text, and how often."""

    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class Normalized:
    """The normalized text, the texts decoded from it, and the evasions found."""

    text: str
    decoded: tuple[str, ...] = ()
    evasions: tuple[Evasion, ...] = ()

    @property
    def scan_text(self) -> str:
        """What detectors read: the normalized text followed by every decoded text."""
        if not self.decoded:
            return self.text
        return "\n".join((self.text, *self.decoded))

    def has(self, kind: str) -> bool:
        return any(evasion.kind == kind for evasion in self.evasions)


@dataclass(slots=True)
class _State:
    budget: int
    decoded: list[str] = field(default_factory=list)
    evasions: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str, count: int = 1) -> None:
        self.evasions[kind] = self.evasions.get(kind, 0) + count

    def keep(self, kind: str, text: str) -> bool:
        if self.budget <= 0 or not text.strip():
            return False
        text = text[: self.budget]
        self.budget -= len(text)
        self.decoded.append(text)
        self.note(kind)
        return True


class Normalizer:
    """Normalizes text; holds the compiled homoglyph table (built once per instance)."""

    def __init__(self, config: NormalizeConfig | None = None) -> None:
        self.config = config or NormalizeConfig()
        raw = resources.files("vallum.detectors").joinpath("confusables.json").read_text("utf-8")
        table: dict[str, str] = json.loads(raw)
        self._fold = str.maketrans(table)
        self._confusables = frozenset(table)
        self._ascii_or_confusable = self._confusables.union(map(chr, range(128)))
        # A superset of the table (all of it above U+FFFF as one range): sre looks BMP classes
        # up in one table but tests astral characters one by one.
        bmp = "".join(sorted(char for char in table if char <= "\uffff"))
        astral = [char for char in table if char > "\uffff"]
        span = f"{min(astral)}-{max(astral)}" if astral else ""
        self._maybe_confusable = re.compile(f"[{bmp}{span}]")

    def normalize(self, text: str) -> Normalized:
        state = _State(budget=self.config.max_decoded_chars)
        result = self._level(text, state, depth=0)
        evasions = tuple(Evasion(kind, count) for kind, count in sorted(state.evasions.items()))
        return Normalized(result, tuple(state.decoded), evasions)

    def _level(self, text: str, state: _State, depth: int) -> str:
        if not text.isascii():
            text = self._unicode(text, state)
        text = self._collapse(text, state)
        if depth < self.config.max_depth:
            for decoded_kind, decoded in self._decodings(text, state):
                if state.keep(decoded_kind, decoded):
                    last = state.decoded.pop()
                    state.decoded.append(self._level(last, state, depth + 1))
        return text

    def _unicode(self, text: str, state: _State) -> str:
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
        if _HIDDEN.search(text) is not None:
            text = self._hidden(text, state)
        return self._fold_words(text, state)

    def _hidden(self, text: str, state: _State) -> str:
        text, hidden = _INVISIBLE.subn("", text)
        if hidden:
            state.note("zero_width", hidden)
        text, bidi = _BIDI.subn("", text)
        if bidi:
            state.note("bidi_control", bidi)
        smuggled = _TAGS.findall(text)
        if smuggled:
            state.note("tag_characters", len(smuggled))
            state.keep("tag_characters", " ".join(_untag(run) for run in smuggled))
            text = _TAGS.sub("", text)
        return text

    def _fold_words(self, text: str, state: _State) -> str:
        """Fold the words that hold a confusable character; leave everything else alone."""
        if self._maybe_confusable.search(text) is None:
            return text
        pieces: list[str] = []
        last = kept = 0  # end of the last word looked at / of the last word folded
        for run in _NON_ASCII.finditer(text):
            begin = run.start()
            chars = run.group()
            if last > begin or self._confusables.isdisjoint(chars):
                continue
            end = _WORD_CHAR.match(text, begin).end()  # type: ignore[union-attr]
            end = max(end, run.end())
            # a run holding a foreign letter leaves its word as it is: only its end matters
            if self._confusables.issuperset(chars):
                start = begin
                while start > last and _is_word_char(text[start - 1]):
                    start -= 1
                pieces.append(text[kept:start])
                pieces.append(self._fold_word(text[start:end], state))
                kept = end
            last = end
        if not pieces:
            return text
        pieces.append(text[kept:])
        return "".join(pieces)

    def _fold_word(self, word: str, state: _State) -> str:
        if not self._ascii_or_confusable.issuperset(word):
            return word  # a real word of another script, not a disguise
        if _ASCII_CHAR.search(word) is not None:
            state.note("homoglyph")  # mixed scripts inside one word
        return word.translate(self._fold)

    def _collapse(self, text: str, state: _State) -> str:
        def join(match: re.Match[str]) -> str:
            state.note("spaced_letters")
            return _SPACED_SEP.sub("", match.group())

        if "\n" in text:
            text = _BLANK_LINES.sub("\n", text)
        # every run of horizontal whitespace becomes one space
        for char in _HSPACE_OTHER:
            if char in text:
                text = text.replace(char, " ")
        if "  " in text:
            text = _SPACES.sub(" ", text)
        data = _utf8(text)
        if b"pppp" in data.translate(_PUNCT_MARKS):
            text, runs = _PUNCT_RUN.subn(r"\1\1\1", text)
            data = _utf8(text) if runs else data
        marks = data.translate(_SPACED_MARKS)
        if b"asas" not in marks and b"assas" not in marks:
            return text  # no two single letters apart: _SPACED_HINT cannot match
        padded = " " + text
        if _SPACED_HINT.search(padded) is None:
            return text
        return _SPACED.sub(join, padded)[1:]

    def _decodings(self, text: str, state: _State) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        limit = self.config.max_candidates
        data = _utf8(text)
        if b"bbbbbbbbbbbbbbbb" in data.translate(_BASE64_MARKS):
            for match in _BASE64.finditer(text):
                if len(found) >= limit:
                    break
                decoded = _from_base64(match.group())
                if decoded is not None:
                    found.append(("base64", decoded))
        hex_runs = _HEX.findall(text) if b"h" * 20 in data.translate(_HEX_MARKS) else []
        if "\\x" in text:
            hex_runs += _HEX_ESCAPED.findall(text)
        for run in hex_runs:
            if len(found) >= limit:
                break
            decoded = _from_hex(run)
            if decoded is not None:
                found.append(("hex", decoded))
        if text.count("%", 0, 100_000) >= 4 and len(_PERCENT.findall(text, 0, 100_000)) >= 4:
            found.append(("url_encoding", urllib.parse.unquote(text)))
        found.extend(self._words(text, state))
        return found

    def _words(self, text: str, state: _State) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        sample = text[: self.config.rot13_sample_chars].lower()
        data = _utf8(sample)
        words = data.translate(_WORD_BYTES).split()  # the [a-z]+ words, found in C
        hint = "rot" in sample and _ROT13_HINT.search(sample) is not None
        # rotate only text that says "rot13" or does not read as plain English but does once
        # rotated (rot13 maps only ASCII letters: the rotated words are the words rotated)
        if len(words) >= 4 and (
            hint
            or (
                _stop_ratio(words, _STOPWORDS_BYTES) < 0.12
                and _stop_ratio(words, _ROT13_STOPWORDS) > 0.25
            )
        ):
            found.append(("rot13", codecs.encode(sample, "rot13")))
        marks = data.translate(_LEET_MARKS)
        if b"a1" not in marks or b"1a" not in marks or _LEET_CORE.search(sample) is None:
            return found  # no letter-digit-letter: no leetspeak token can match
        leet = [token for token in _LEET_TOKEN.findall(sample) if len(token) <= _LEET_MAX]
        if leet:
            decoded = _LEET_TOKEN.sub(_unleet, sample)
            if len(leet) >= 2:
                found.append(("leetspeak", decoded))
            else:
                state.decoded.append(decoded)  # one token: scan it, but not an evasion yet
        return found


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _unleet(match: re.Match[str]) -> str:
    token = match.group()
    return token.translate(_LEET) if len(token) <= _LEET_MAX else token


def _untag(run: str) -> str:
    return "".join(chr(ord(char) - 0xE0000) for char in run if 0x20 <= ord(char) - 0xE0000 < 0x7F)


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 4:
        return None
    good = sum(1 for char in text if char.isprintable() or char in "\n\t\r")
    letters = sum(1 for char in text if char.isalpha())
    if good < 0.95 * len(text) or letters < 0.5 * len(text.replace(" ", "")):
        return None
    return text


def _from_base64(token: str) -> str | None:
    if token.isalpha() and (token.islower() or token.isupper()):
        return None  # a plain word or identifier, not an encoding
    data = token.replace("-", "+").replace("_", "/").rstrip("=")
    data += "=" * (-len(data) % 4)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(raw)


def _from_hex(token: str) -> str | None:
    digits = _HEX_JUNK.sub("", token)
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        return _printable(bytes.fromhex(digits))
    except ValueError:
        return None


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates occur in JSON input


def _stop_ratio(words: list[bytes], stopwords: frozenset[bytes]) -> float:
    if not words:
        return 0.0
    return sum(map(stopwords.__contains__, words)) / len(words)
