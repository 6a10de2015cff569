"""RFC 7662 token introspection for opaque bearer tokens, cached per token until it expires.

The token is POSTed form-encoded with HTTP Basic client authentication; only an answer
with ``active: true`` (and ``exp`` not passed, ``iss``/``aud`` as configured) makes an
identity. Results are cached under the SHA-256 of the token (never the token itself):
positives until ``min(exp, now + cache_ttl)``, negatives for ``negative_ttl`` seconds so
a flood of bad tokens does not hammer the server. Endpoint unreachable: fail closed
(cached positives keep working until they expire).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vallum.clock import Clock
from vallum.errors import ConfigError
from vallum.identity.model import AuthMethod, Identity, PrincipalKind

__all__ = ["IntrospectionConfig", "Introspector", "Poster"]

log = logging.getLogger("vallum.identity")

# (url, headers, body) -> (status, body)
Poster = Callable[[str, list[tuple[str, str]], bytes], Awaitable[tuple[int, bytes]]]
_CACHE_SIZE = 10_000
_MAX_TOKEN = 8192
_MAX_ANSWER = 64 * 1024


class IntrospectionConfig(BaseModel):
    """The RFC 7662 introspection endpoint that vouches for opaque tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        "introspection", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Short name."
    )
    endpoint: str = Field(
        max_length=2048, description="Introspection URL: https, or http only to loopback."
    )
    client_id: str = Field(
        min_length=1, max_length=256, description="Vallum's client id at the server (public)."
    )
    client_secret_env: str | None = Field(
        None, pattern=r"^[A-Z_][A-Z0-9_]{0,127}$", description="Env var holding the secret."
    )
    client_secret_file: str | None = Field(
        None, max_length=4096, description="File holding the client secret."
    )
    issuer: str | None = Field(None, max_length=2048, description="Required 'iss', if set.")
    audience: tuple[str, ...] = Field(
        (), max_length=16, description="Accepted 'aud' values; empty: not checked."
    )
    require_exp: bool = Field(False, description="Reject answers without 'exp'.")
    cache_ttl: float = Field(300.0, ge=0, le=86400, description="Cap on positive caching, s.")
    negative_ttl: float = Field(10.0, ge=0, le=3600, description="Caching of rejections, s.")
    timeout: float = Field(5.0, gt=0, le=60, description="Per-call timeout, seconds.")
    subject_claim: str = Field("sub", max_length=64, description="Claim naming the principal.")
    team_claim: str | None = Field(None, max_length=64, description="Claim naming the team.")
    roles_claim: str | None = Field(None, max_length=64, description="Claim listing roles.")
    scope_claim: str = Field("scope", max_length=64, description="Claim listing scopes.")
    principal_kind: Literal["user", "service"] = Field("user", description="Kind of principal.")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and _loopback(parts.hostname or ""):
            return value
        raise ValueError("endpoint must be https (http only to a loopback address)")

    @model_validator(mode="after")
    def _secret(self) -> IntrospectionConfig:
        if (self.client_secret_env is None) == (self.client_secret_file is None):
            raise ValueError("set exactly one of client_secret_env, client_secret_file")
        return self

    def client_secret(self, env: Mapping[str, str] | None = None) -> str:
        """The client secret, read from its env var or file (never from the config)."""
        if self.client_secret_env is not None:
            secret = (os.environ if env is None else env).get(self.client_secret_env, "")
        else:
            try:
                secret = Path(str(self.client_secret_file)).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError("cannot read the introspection client secret file") from exc
        if not secret:
            raise ConfigError("the introspection client secret is not set")
        return secret


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Introspector:
    """Asks the introspection endpoint about opaque tokens; caches answers by token hash."""

    def __init__(self, config: IntrospectionConfig, post: Poster, clock: Clock) -> None:
        self.config = config
        self._post = post
        self._clock = clock
        self._auth: str | None = None
        self._good: dict[bytes, tuple[Identity, float]] = {}
        self._bad: dict[bytes, tuple[str, float]] = {}

    def start(self, env: Mapping[str, str] | None = None) -> None:
        """Reads the client secret; a missing secret stops the start (ConfigError)."""
        secret = self.config.client_secret(env)
        pair = f"{quote(self.config.client_id, safe='')}:{quote(secret, safe='')}"
        self._auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    async def verify(self, token: str) -> tuple[Identity | None, str]:
        """The identity, or None with the internal reason (never shown to the client)."""
        if not token or len(token) > _MAX_TOKEN:
            return None, "malformed"
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock.now()
        good = self._good.get(digest)
        if good is not None and good[1] > now:
            return good[0], "ok"
        bad = self._bad.get(digest)
        if bad is not None and bad[1] > now:
            return None, bad[0]
        answer = await self._ask(token)
        if answer is None:
            return None, "introspection_unavailable"  # not cached: retried on the next call
        identity, reason, expires = self._judge(answer, digest, now)
        if identity is None:
            _put(self._bad, digest, (reason, now + self.config.negative_ttl))
        else:
            _put(self._good, digest, (identity, expires))
        return identity, reason

    async def _ask(self, token: str) -> dict[str, Any] | None:
        if self._auth is None:
            return None
        body = urlencode({"token": token, "token_type_hint": "access_token"}).encode()
        headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
            ("authorization", self._auth),
        ]
        try:
            async with asyncio.timeout(self.config.timeout):
                status, raw = await self._post(self.config.endpoint, headers, body)
            answer = orjson.loads(raw) if status == 200 and len(raw) <= _MAX_ANSWER else None
        except Exception as exc:  # any failure of the call (timeout, refused, bad JSON)
            log.warning(
                "introspection failed",
                extra={"introspection": self.config.name, "err": type(exc).__name__},
            )
            return None
        if not isinstance(answer, dict):
            log.warning("introspection answer unusable", extra={"introspection": self.config.name})
            return None
        return answer

    def _judge(
        self, answer: dict[str, Any], digest: bytes, now: float
    ) -> tuple[Identity | None, str, float]:
        config = self.config
        if answer.get("active") is not True:
            return None, "inactive", 0.0
        exp = answer.get("exp")
        if exp is None and config.require_exp:
            return None, "no_exp", 0.0
        if exp is not None and (not isinstance(exp, int | float) or isinstance(exp, bool)):
            return None, "bad_exp", 0.0
        if exp is not None and exp <= now:
            return None, "expired", 0.0
        if config.issuer is not None and answer.get("iss") != config.issuer:
            return None, "wrong_issuer", 0.0
        if config.audience and not (_strings(answer.get("aud")) & set(config.audience)):
            return None, "wrong_audience", 0.0
        identity = _identity(config, answer, digest)
        if identity is None:
            return None, "no_subject", 0.0
        expires = now + config.cache_ttl
        if exp is not None:
            expires = min(expires, float(exp))
        return identity, "ok", expires


def _put(cache: dict[bytes, Any], digest: bytes, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[digest] = value


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(v) for v in value[:256] if isinstance(v, str | int))
    return frozenset()


def _identity(
    config: IntrospectionConfig, claims: dict[str, Any], digest: bytes
) -> Identity | None:
    subject = claims.get(config.subject_claim)
    if not isinstance(subject, str) or not subject or len(subject) > 256:
        return None
    team = claims.get(config.team_claim) if config.team_claim else None
    roles = _strings(claims.get(config.roles_claim)) if config.roles_claim else frozenset()
    return Identity(
        principal_id=f"{config.name}:{subject}",
        kind=PrincipalKind(config.principal_kind),
        method=AuthMethod.INTROSPECTION,
        credential_id=f"{config.name}#{digest.hex()[:16]}",  # a hash prefix, never the token
        team=team if isinstance(team, str) else None,
        roles=roles,
        scopes=_strings(claims.get(config.scope_claim)),
    )
