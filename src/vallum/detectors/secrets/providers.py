"""Provider credential formats: fixed prefixes and lengths, so they need no context."""

from __future__ import annotations

import re

from vallum.detectors.base import Recognizer
from vallum.detectors.patterns import (
    CONTEXT_REACH,
    PatternRecognizer,
    TokenGated,
    context_pattern,
    literal_starts,
)

__all__ = ["provider_recognizers"]

_B = r"(?<![A-Za-z0-9_\-])"
_E = r"(?![A-Za-z0-9_\-])"
# name, pattern (each begins with one of the literals listed after it: the pre-filter)
_KEYS: tuple[tuple[str, str], ...] = (
    ("openai", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,200}"),
    ("anthropic", r"sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{20,200}"),
    ("aws_access_key", r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)"
     r"[A-Z0-9]{16}"),
    ("gcp_api_key", r"AIza[A-Za-z0-9_\-]{35}"),
    ("github", r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,255}"),
    ("gitlab", r"glpat-[A-Za-z0-9_\-]{20}"),
    ("slack", r"xox[baprs]-[A-Za-z0-9\-]{10,250}"),
    ("slack_webhook", r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,}"),
    ("stripe", r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,99}"),
    ("twilio", r"SK[0-9a-fA-F]{32}"),
    ("sendgrid", r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
    ("huggingface", r"hf_[A-Za-z0-9]{34,40}"),
    ("npm", r"npm_[A-Za-z0-9]{36}"),
    ("pypi", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}"),
    ("jwt", r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    ("azure_storage", r"AccountKey=[A-Za-z0-9+/]{86}=="),
)  # fmt: skip
_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----[\s\S]{16,8192}?"
    r"-----END (?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----"
)
_GCP_SA = re.compile(r'"private_key_id"\s*:\s*"([0-9a-f]{40})"')
_AWS_SECRET = re.compile(rf"{_B}([A-Za-z0-9/+]{{40}}){_E}")
_AWS_SECRET_CONTEXT = context_pattern(
    ["aws_secret_access_key", "secret access key", "aws secret", "secret_key", "secretaccesskey"]
)
_AZURE_KEY = re.compile(rf"{_B}([0-9a-f]{{32}}|[A-Za-z0-9]{{84}}AZSe[A-Za-z0-9]{{4}}){_E}")
_AZURE_CONTEXT = context_pattern(
    ["azure", "ocp-apim-subscription-key", "api-key", "cognitive", "openai_api_key"]
)


_PREFIXES: dict[str, tuple[str, ...]] = {
    "openai": ("sk-",),
    "anthropic": ("sk-ant-",),
    "aws_access_key": ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA",
                       "AROA", "APKA", "ASCA"),
    "gcp_api_key": ("AIza",),
    "github": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab": ("glpat-",),
    "slack": ("xox",),
    "slack_webhook": ("https://hooks.slack.com/",),
    "stripe": ("sk_", "rk_", "pk_"),
    "twilio": ("SK",),
    "sendgrid": ("SG.",),
    "huggingface": ("hf_",),
    "npm": ("npm_",),
    "pypi": ("pypi-",),
    "jwt": ("eyJ",),
    "azure_storage": ("AccountKey=",),
}  # fmt: skip


_ALL_PREFIXES = sorted({p for ps in _PREFIXES.values() for p in ps}, key=len, reverse=True)


def _mixed(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isupper() for c in value)


def provider_recognizers() -> list[Recognizer]:
    """The provider formats (grouped behind one long-token gate) and the keys in context."""
    found = [
        PatternRecognizer(
            "API_KEY_SECRET",
            re.compile(_B + pattern + _E),
            0.95,
            f"secrets.{name}",
            seek=literal_starts(*_PREFIXES[name], in_tokens=True),
        )
        for name, pattern in _KEYS
    ]
    return [
        # every provider key is one token of 15+ characters that holds its prefix
        TokenGated(tuple(found), re.compile("|".join(map(re.escape, _ALL_PREFIXES)))),
        PatternRecognizer(
            "PRIVATE_KEY", _PEM, 1.0, "secrets.private_key", seek=literal_starts("-----BEGIN ")
        ),
        PatternRecognizer(
            "API_KEY_SECRET",
            _GCP_SA,
            0.95,
            "secrets.gcp_service_account",
            group=1,
            seek=literal_starts('"private_key_id"'),
        ),
        PatternRecognizer(
            "API_KEY_SECRET",
            _AWS_SECRET,
            0.5,
            "secrets.aws_secret",
            validator=_mixed,
            context=_AWS_SECRET_CONTEXT,
            needs_context=True,
            group=1,
            gate=("secret", "secretaccesskey"),
            reach=CONTEXT_REACH,
        ),
        PatternRecognizer(
            "API_KEY_SECRET",
            _AZURE_KEY,
            0.5,
            "secrets.azure_key",
            context=_AZURE_CONTEXT,
            needs_context=True,
            context_score=0.85,
            group=1,
            gate=("azure", "ocp-apim-subscription-key", "api-key", "cognitive", "openai_api_key"),
            reach=CONTEXT_REACH,
        ),
    ]
