"""The one credential scrubber: every log line, header dump, URL and exception text passes here.

Known credential shapes (provider keys, Vallum keys, JWTs, cloud keys, bearer tokens,
passwords in URLs, ``secret=...`` pairs) are replaced by ``[REDACTED]``; a Vallum key keeps
its public id (``vk_<id>_[REDACTED]``) so an operator can still tell which key it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "SENSITIVE_HEADERS", "scrub", "scrub_headers", "scrub_value"]

REDACTED = "[REDACTED]"
_MAX_DEPTH = 6

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
        "x-vallum-key",
        "x-amz-security-token",
        "x-auth-token",
        "openai-organization",
    }
)

# Order matters: the specific shapes first, then the generic "name = value" pairs.
_PATTERNS: list[tuple[str, str]] = [
    (
        "private_key",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
    ),
    ("vallum_key", r"\b(vk_[A-Za-z0-9]{1,64})_[A-Za-z0-9_\-]{6,}"),
    ("provider_key", r"\bsk-(?:ant-|proj-|svcacct-|admin-|or-)?[A-Za-z0-9_\-]{12,}"),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"),
    ("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    ("google_key", r"\bAIza[0-9A-Za-z_\-]{30,}"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    ("slack_token", r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    ("auth_scheme", r"\b((?i:bearer|basic|token|digest))(\s+)[A-Za-z0-9._~+/=\-]{6,}"),
    ("url_userinfo", r"\b([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*):[^\s@]+@"),
    (
        "query_secret",
        r"((?i:[?&;](?:api[_\-]?key|key|token|access_token|refresh_token|id_token|password|"
        r"passwd|secret|client_secret|sig|signature|x-amz-signature|x-amz-credential|code)=))"
        r"[^&#\s\"']+",
    ),
    (
        "named_secret",
        r"(\b[\w\-]*(?i:password|passwd|pwd|secret|token(?!s)|api[_\-]?key|apikey|access[_\-]?key|"
        r"private[_\-]?key|authorization|credential|session[_\-]?id)[\w\-]*[\"']?\s*[:=]\s*[\"']?"
        r"(?:(?i:bearer|basic|digest|token)\s+)?)"
        r"(?!\[REDACTED\])[^\s\"',;}]{3,}",
    ),
    (
        # "invalid api key Tr0ub4dor&3" in prose: a keyword, then a word holding a digit.
        "prose_secret",
        r"(\b(?i:api[ _\-]?key|secret|token|password|passwd|credentials?)\s+)"
        r"(?=[^\s\"']*\d)(?!\[REDACTED\])[^\s\"',;]{8,}",
    ),
]
_COMBINED = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _PATTERNS))
_GROUP_INDEX = {name: _COMBINED.groupindex[name] for name, _ in _PATTERNS}


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "vallum_key":
        return f"{match.group(_GROUP_INDEX[kind] + 1)}_{REDACTED}"
    if kind == "auth_scheme":
        base = _GROUP_INDEX[kind]
        return f"{match.group(base + 1)}{match.group(base + 2)}{REDACTED}"
    if kind == "url_userinfo":
        return f"{match.group(_GROUP_INDEX[kind] + 1)}:{REDACTED}@"
    if kind in ("query_secret", "named_secret", "prose_secret"):
        return f"{match.group(_GROUP_INDEX[str(kind)] + 1)}{REDACTED}"
    return REDACTED


def scrub(text: str) -> str:
    """``text`` with every credential-shaped substring replaced."""
    if not text:
        return text
    return _COMBINED.sub(_replace, text)


def scrub_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to log: sensitive headers become ``[REDACTED]``, the rest are scrubbed."""
    return {
        name: REDACTED if name.lower() in SENSITIVE_HEADERS else scrub(value)
        for name, value in headers.items()
    }


def scrub_value(value: Any, _depth: int = 0) -> Any:
    """Scrub strings inside JSON-like values (log extras); other scalars pass unchanged."""
    if isinstance(value, str):
        return scrub(value)
    if _depth >= _MAX_DEPTH:
        return value if isinstance(value, int | float | bool) or value is None else REDACTED
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if str(k).lower() in SENSITIVE_HEADERS else scrub_value(v, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub_value(item, _depth + 1) for item in value]
    if isinstance(value, bytes):
        return scrub(value.decode("utf-8", "replace"))
    if value is None or isinstance(value, int | float | bool):
        return value
    return scrub(str(value))
