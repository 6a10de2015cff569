"""Where a value came from: actionable values (URLs, e-mail addresses, IBANs, phone numbers,
file paths, amounts) found in trusted turns (system, user) and untrusted ones (tool results,
documents), so a tool call or a link can be traced to the text that put it there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import orjson

from vallum.detectors.pii.iban import iban_valid

__all__ = [
    "MAX_SCAN_CHARS",
    "Origin",
    "ProvenanceState",
    "Value",
    "ValueIndex",
    "ValueKind",
    "argument_values",
    "normalize_host",
    "text_values",
    "url_spans",
]

MAX_SCAN_CHARS = 200_000  # per text: longer texts are scanned up to here


@dataclass(slots=True)
class ProvenanceState:
    """A guard layer's per-call state: the provenance index of the request's text (None:
    nothing to trace). ``tool_guard`` and ``link_guard`` both keep one."""

    index: ValueIndex | None = None


_MAX_DEPTH = 32  # JSON nesting walked in tool-call arguments


class ValueKind(StrEnum):
    URL = "url"  # compared by host: a path or query the model fills in still traces back
    EMAIL = "email"
    IBAN = "iban"
    PHONE = "phone"
    PATH = "path"
    AMOUNT = "amount"


class Origin(StrEnum):
    """Where a value occurs in the request."""

    TRUSTED = "trusted"  # in the system or user turns (or the operator's allow-list)
    UNTRUSTED_ONLY = "untrusted_only"  # only in tool results or documents
    UNSEEN = "unseen"  # nowhere in the request: the model made it up


@dataclass(frozen=True, slots=True)
class Value:
    """One actionable value, normalised for comparison (``key``); never logged as is."""

    kind: ValueKind
    key: str


# Bare domains ("evil.example.com/x") count only with a common top-level domain, so file
# names such as report.pdf or main.py are never read as hosts.
_TLDS = (
    "com|net|org|io|co|ai|dev|app|info|biz|xyz|me|us|uk|de|fr|ru|cn|nl|eu|es|it|ch|at|se|no"
    "|site|online|top|cloud|tech|shop|store|link|click|live|pro|edu|gov|page|email|zip|mov"
)
_URL = re.compile(r"(?i)\b(?:https?|ftp|wss?)://[^\s<>\"'`)\]}]+")
_BARE_HOST = re.compile(
    rf"(?i)(?<![\w@.:/-])(?:[a-z0-9](?:[a-z0-9-]{{0,62}}[a-z0-9])?\.)+(?:{_TLDS})\b(?![\w-])"
    r"(?:/[^\s<>\"'`)\]}]*)?"
)
_EMAIL = re.compile(r"(?i)(?<![\w.+-])[a-z0-9][a-z0-9._%+-]{0,63}@(?:[a-z0-9-]+\.)+[a-z]{2,24}\b")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}(?![A-Za-z0-9])")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d{1,4}\)?(?:[ .\-]?\(?\d{1,5}\)?){2,6}(?![\w])")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
_PATH = re.compile(
    r"(?<![\w:/.~-])(?:~|\.{1,2})?/(?:[\w.@+-]+/)*[\w.@+-]+/?"
    r"|(?<![\w])[A-Za-z]:\\(?:[\w .@+-]+\\)*[\w.@+-]+"
)
_NUMBER = re.compile(
    r"(?<![\w.,-])\d{1,3}(?:[,' ]\d{3})+(?:[.,]\d+)?(?![\w])|(?<![\w.,-])\d+(?:[.,]\d+)?"
)
_CURRENCY_AMOUNT = re.compile(
    r"(?i)(?:[$€£¥₹]|\b(?:usd|eur|gbp|chf|jpy|btc|eth)\b)\s?\d[\d,.' ]*\d|(?:[$€£¥₹])\s?\d"
    r"|\b\d[\d,.' ]*\s?(?:[$€£¥₹]|\b(?:usd|eur|gbp|chf|jpy|btc|eth|dollars?|euros?|pounds?)\b)"
)
_AMOUNT_KEYS = re.compile(
    r"(?i)amount|sum|total|price|cost|fee|value|pay|balance|quantity|qty|tip|wager"
)


def normalize_host(host: str) -> str:
    """Lower case, no trailing dot, no leading ``www.``."""
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _url_host(raw: str) -> str | None:
    text = raw if "://" in raw else "http://" + raw
    try:
        host = urlsplit(text.rstrip(".,;:!?")).hostname
    except ValueError:
        return None
    return normalize_host(host) if host else None


def _amount_key(raw: str) -> str | None:
    """A number as a canonical decimal string ("4,999.00" and "4999" are both "4999")."""
    digits = re.sub(r"[^\d,.]", "", raw)
    if not digits or not any(ch.isdigit() for ch in digits):
        return None
    if "," in digits and "." in digits:
        decimal_mark = "." if digits.rfind(".") > digits.rfind(",") else ","
    elif digits.count(",") == 1 and len(digits) - digits.rfind(",") - 1 != 3:
        decimal_mark = ","
    elif digits.count(".") == 1 and len(digits) - digits.rfind(".") - 1 == 3 and "," not in digits:
        decimal_mark = "." if digits.startswith("0") else ""  # 4.999 reads as thousands
    else:
        decimal_mark = "." if digits.count(".") == 1 else ""
    thousands = {",", "."} - {decimal_mark}
    cleaned = "".join(ch for ch in digits if ch not in thousands).replace(decimal_mark or "#", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return _decimal_key(number)


def _decimal_key(number: Decimal) -> str:
    normal = number.normalize()
    return format(normal, "f") if normal == normal.to_integral() else str(normal)


def _phone_key(raw: str) -> str | None:
    digits = re.sub(r"\D", "", raw)
    if not 8 <= len(digits) <= 15 or _DATE.match(raw.strip()):
        return None
    if raw.startswith("00"):
        digits = digits[2:]
    return digits


def _emails(text: str) -> Iterator[tuple[Value, tuple[int, int]]]:
    for match in _EMAIL.finditer(text):
        yield Value(ValueKind.EMAIL, match.group().lower()), match.span()


def _urls(text: str) -> Iterator[tuple[Value, tuple[int, int]]]:
    taken: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        host = _url_host(match.group())
        if host:
            taken.append(match.span())
            yield Value(ValueKind.URL, host), _trimmed(match)
    for match in _BARE_HOST.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        host = _url_host(match.group())
        if host:
            yield Value(ValueKind.URL, host), _trimmed(match)


def _trimmed(match: re.Match[str]) -> tuple[int, int]:
    """The span without trailing sentence punctuation ("see https://x.example/a.")."""
    return match.start(), match.start() + len(match.group().rstrip(".,;:!?"))


def url_spans(text: str) -> list[tuple[int, int, str]]:
    """Every URL and bare domain in ``text``: (start, end, normalised host), in text order."""
    found = [(span[0], span[1], value.key) for value, span in _urls(text[:MAX_SCAN_CHARS])]
    return sorted(found)


def _ibans(text: str) -> Iterator[tuple[Value, tuple[int, int]]]:
    for match in _IBAN.finditer(text):
        compact = match.group().replace(" ", "")
        if iban_valid(compact):
            yield Value(ValueKind.IBAN, compact), match.span()


def _paths(text: str, skip: list[tuple[int, int]]) -> Iterator[Value]:
    for match in _PATH.finditer(text):
        start, end = match.span()
        if any(s <= start < e or s < end <= e for s, e in skip):
            continue
        path = match.group().rstrip("/.") or match.group()
        if len(path) > 1:
            yield Value(ValueKind.PATH, path)


def _phones(text: str, skip: list[tuple[int, int]]) -> Iterator[Value]:
    for match in _PHONE.finditer(text):
        start, end = match.span()
        if any(s <= start < e or s < end <= e for s, e in skip):
            continue
        key = _phone_key(match.group())
        if key is not None:
            yield Value(ValueKind.PHONE, key)


def text_values(text: str, *, all_numbers: bool = False) -> set[Value]:
    """Every actionable value in ``text``. With ``all_numbers`` every number counts as an
    amount (used for request turns, where a figure need not carry a currency sign)."""
    text = text[:MAX_SCAN_CHARS]
    values: set[Value] = set()
    spans: list[tuple[int, int]] = []
    for value, span in (*_emails(text), *_urls(text), *_ibans(text)):
        values.add(value)
        spans.append(span)
    values.update(_paths(text, spans))
    values.update(_phones(text, spans))
    amounts = _NUMBER.finditer(text) if all_numbers else _CURRENCY_AMOUNT.finditer(text)
    for match in amounts:
        key = _amount_key(match.group())
        if key is not None:
            values.add(Value(ValueKind.AMOUNT, key))
    return values


def argument_values(arguments: str) -> set[Value]:
    """Values in a tool call's arguments (a JSON object as text; other text is read as prose).

    Numbers under amount-like keys (amount, total, price…) count as amounts.
    """
    try:
        parsed: Any = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return text_values(arguments)
    values: set[Value] = set()
    _walk(parsed, None, values, 0)
    return values


def _walk(node: Any, key: str | None, values: set[Value], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    amount_key = key is not None and _AMOUNT_KEYS.search(key) is not None
    if isinstance(node, dict):
        for child_key, child in node.items():
            _walk(child, str(child_key), values, depth + 1)
    elif isinstance(node, list):
        for child in node:
            _walk(child, key, values, depth + 1)
    elif isinstance(node, str):
        values.update(text_values(node))
        if amount_key and (number := _amount_key(node)) is not None:
            values.add(Value(ValueKind.AMOUNT, number))
    elif isinstance(node, int | float) and not isinstance(node, bool) and amount_key:
        values.add(Value(ValueKind.AMOUNT, _decimal_key(Decimal(str(node)))))


@dataclass(slots=True)
class ValueIndex:
    """The values of one request's trusted and untrusted turns."""

    trusted: set[Value] = field(default_factory=set)
    untrusted: set[Value] = field(default_factory=set)
    trusted_hosts: tuple[str, ...] = ()  # the operator's own domains: always trusted

    @classmethod
    def build(
        cls,
        trusted_texts: Iterable[str],
        untrusted_texts: Iterable[str],
        trusted_hosts: Iterable[str] = (),
    ) -> ValueIndex:
        index = cls(trusted_hosts=tuple(normalize_host(h) for h in trusted_hosts))
        for text in trusted_texts:
            index.trusted |= _with_mail_hosts(text_values(text, all_numbers=True))
        for text in untrusted_texts:
            index.untrusted |= _with_mail_hosts(text_values(text, all_numbers=True))
        return index

    @property
    def has_untrusted(self) -> bool:
        return bool(self.untrusted)

    def origin(self, value: Value) -> Origin:
        if self._contains(self.trusted, value) or self._allowed_host(value):
            return Origin.TRUSTED
        if self._contains(self.untrusted, value):
            return Origin.UNTRUSTED_ONLY
        return Origin.UNSEEN

    def _allowed_host(self, value: Value) -> bool:
        return value.kind is ValueKind.URL and any(
            _same_site(value.key, host) for host in self.trusted_hosts
        )

    @staticmethod
    def _contains(pool: set[Value], value: Value) -> bool:
        if value in pool:
            return True
        if value.kind is ValueKind.URL:
            return any(v.kind is ValueKind.URL and _same_site(value.key, v.key) for v in pool)
        if value.kind is ValueKind.PHONE:  # with or without the country code
            return any(v.kind is ValueKind.PHONE and _same_phone(value.key, v.key) for v in pool)
        return False


def _with_mail_hosts(values: set[Value]) -> set[Value]:
    """An e-mail address also vouches for (or incriminates) its domain as a URL host."""
    hosts = {
        Value(ValueKind.URL, normalize_host(v.key.rpartition("@")[2]))
        for v in values
        if v.kind is ValueKind.EMAIL
    }
    return values | hosts


def _same_site(host: str, known: str) -> bool:
    """``host`` is ``known`` or one of its subdomains."""
    return host == known or host.endswith("." + known)


def _same_phone(first: str, second: str) -> bool:
    """Equal numbers, written with or without the country code or the national 0."""
    short, long = sorted((first.lstrip("0"), second.lstrip("0")), key=len)
    return len(short) >= 7 and long.endswith(short)
