"""The Identity that authentication produces and authorization reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["AuthMethod", "Grant", "Identity", "PrincipalKind", "compile_patterns"]


class PrincipalKind(StrEnum):
    KEY = "key"  # a Vallum API key standing for itself
    USER = "user"  # a person, from an OIDC token
    SERVICE = "service"  # a workload: client credentials, mTLS certificate


class AuthMethod(StrEnum):
    API_KEY = "api_key"
    JWT = "jwt"
    MTLS = "mtls"
    INTROSPECTION = "introspection"


def compile_patterns(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for model patterns where ``*`` matches any run of characters."""
    parts = ("".join(".*" if c == "*" else re.escape(c) for c in p) for p in patterns)
    return re.compile("(?:" + "|".join(parts) + r")\Z")


@dataclass(frozen=True, slots=True)
class Grant:
    """What one permission allows: actions (``*``: all) on models matching ``patterns``."""

    actions: frozenset[str]
    patterns: tuple[str, ...]
    matcher: re.Pattern[str]

    def allows_action(self, action: str) -> bool:
        return "*" in self.actions or action in self.actions

    def allows(self, action: str, model: str) -> bool:
        return self.allows_action(action) and self.matcher.match(model) is not None


@dataclass(frozen=True, slots=True)
class Identity:
    """One authenticated caller. Never holds a secret: ``credential_id`` is a public id.

    ``allowed_models`` / ``allowed_actions`` narrow what the roles grant (``None``: no
    narrowing); they can only take permissions away, never add them.
    """

    principal_id: str
    kind: PrincipalKind
    method: AuthMethod
    credential_id: str
    team: str | None = None
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    allowed_models: tuple[str, ...] | None = None
    allowed_actions: frozenset[str] | None = None
    labels: tuple[tuple[str, str], ...] = ()
    quota: tuple[tuple[str, float], ...] = field(default=())
    grants: tuple[Grant, ...] | None = None  # set by authz: the permissions in force

    def quota_value(self, name: str) -> float | None:
        """A quota field for the rate-limit layer (e.g. ``requests_per_minute``)."""
        for key, value in self.quota:
            if key == name:
                return value
        return None
