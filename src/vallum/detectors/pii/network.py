"""IP addresses (parsed by ``ipaddress``), MAC addresses and URLs with embedded credentials."""

from __future__ import annotations

import ipaddress
import re

from vallum.detectors.base import PatternRecognizer, context_pattern, seek_digits

__all__ = ["network_recognizers"]

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_MAC = re.compile(
    r"(?<![\w:\-])[0-9A-Fa-f]{2}([:\-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:\-])"
)
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
            seek=seek_digits,
        ),
        PatternRecognizer(
            "IP_ADDRESS",
            _IPV6,
            0.8,
            "pii.ipv6",
            validator=_ipv6_valid,
            context=_IP_CONTEXT,
            around=(":",),
        ),
        PatternRecognizer("MAC_ADDRESS", _MAC, 0.8, "pii.mac", around=(":", "-")),
        PatternRecognizer(
            "URL_CREDENTIALS", _URL_CREDS, 0.95, "pii.url_credentials", group=1, around=("://",)
        ),
    ]
