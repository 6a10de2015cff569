"""IP addresses (parsed by ``ipaddress``), MAC addresses and URLs with embedded credentials."""

from __future__ import annotations

import ipaddress
import re

from vallum.detectors.base import TextIndex
from vallum.detectors.patterns import PatternRecognizer, context_pattern

__all__ = ["network_recognizers"]

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_MAC = re.compile(
    r"(?<![\w:\-])[0-9A-Fa-f]{2}([:\-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:\-])"
)
_TWO_COLONS = re.compile(r":[0-9A-Fa-f]{0,4}:")  # in every IPv6 address
_URL_CREDS = re.compile(r"\b[a-z][a-z0-9+.\-]{1,15}://[^\s:/@]{1,64}:([^\s/@]{1,128})@[^\s/]+")
_IP_CONTEXT = context_pattern(["ip", "address", "host", "server", "client", "from", "addr"])
_VERSION_CONTEXT = context_pattern(["version", "v", "release", "build", "ver"])


def _ipv4_valid(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _ipv6_valid(value: str) -> bool:
    if value.count(":") < 2 or not any(c.isdigit() for c in value):
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _seek_dotted(index: TextIndex) -> list[int]:
    """Numbers with three dots ("10.0.0.1"): where an IPv4 address can begin."""
    text = index.text
    return [
        start
        for first, end in index.numbers
        if end - first >= 7 and text.count(".", first, end) >= 3
        for start in index.numeric_starts_in(first, end)
    ]


def _seek_mac(index: TextIndex) -> list[int]:
    """Two characters before each ":" or "-" of the whitespace-free tokens of 17+
    characters: a MAC is 17 characters with no space, its first separator third."""
    text = index.text
    starts: list[int] = []
    for lo, hi in index.long_tokens:
        if hi - lo < 17:
            continue
        for sep in ":-":
            pos = text.find(sep, lo + 2, hi)
            while pos >= 0:
                starts.append(pos - 2)
                pos = text.find(sep, pos + 1, hi)
    return sorted(starts)


def network_recognizers() -> list[PatternRecognizer]:
    return [
        PatternRecognizer(
            "IP_ADDRESS",
            _IPV4,
            0.8,
            "pii.ipv4",
            validator=_ipv4_valid,
            context=_IP_CONTEXT,
            veto=_VERSION_CONTEXT,
            seek=_seek_dotted,
        ),
        PatternRecognizer(
            "IP_ADDRESS",
            _IPV6,
            0.8,
            "pii.ipv6",
            validator=_ipv6_valid,
            context=_IP_CONTEXT,
            gate=(":",),  # a plain ``in`` test skips the trigger scan of most texts
            trigger=_TWO_COLONS,
        ),
        PatternRecognizer("MAC_ADDRESS", _MAC, 0.8, "pii.mac", seek=_seek_mac),
        PatternRecognizer(
            "URL_CREDENTIALS", _URL_CREDS, 0.95, "pii.url_credentials", group=1, around=("://",)
        ),
    ]
