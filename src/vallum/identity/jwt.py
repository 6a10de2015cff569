"""OAuth 2.0 / OIDC bearer tokens: JWKS fetched and cached per issuer, verified with joserfc.

Keys are refreshed in the background and on an unknown ``kid`` (that refresh is itself
rate-limited). When the JWKS endpoint is unreachable, tokens signed by cached keys keep
working and unknown keys are rejected: fail closed. Verified tokens are memoised until
they expire; a JWKS change forgets the issuer's memo, so a rotated-out key stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field

from vallum.clock import Clock
from vallum.identity.model import AuthMethod, Identity, PrincipalKind

__all__ = ["Fetcher", "IssuerConfig", "JwtVerifier", "looks_like_jwt"]

log = logging.getLogger("vallum.identity")

Fetcher = Callable[[str], Awaitable[bytes]]  # URL -> JWKS document
_SAFE_ALGS = ("RS256", "PS256", "ES256", "EdDSA", "RS384", "RS512", "PS384", "PS512", "ES384")
_KID = re.compile(r"^[A-Za-z0-9._~+/=-]{1,128}$")
_JWT = re.compile(r"^[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{2,65536}\.[A-Za-z0-9_-]{0,4096}$")
_MEMO_SIZE = 10_000


def looks_like_jwt(value: str) -> bool:
    return len(value) < 80_000 and _JWT.match(value) is not None


class IssuerConfig(BaseModel):
    """One trusted token issuer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Short name.")
    issuer: str = Field(max_length=2048, description="Expected 'iss' claim.")
    jwks_url: str = Field(pattern=r"^https?://", max_length=2048, description="JWKS endpoint.")
    audience: tuple[str, ...] = Field(
        min_length=1, max_length=16, description="Accepted 'aud' values."
    )
    algorithms: tuple[Literal[_SAFE_ALGS], ...] = Field(  # type: ignore[valid-type]
        ("RS256", "PS256", "ES256", "EdDSA"),
        min_length=1,
        max_length=9,
        description="Allowed signature algorithms (never 'none', never HMAC).",
    )
    leeway: int = Field(30, ge=0, le=600, description="Clock skew tolerated, seconds.")
    required_claims: tuple[str, ...] = Field(
        ("exp", "sub"), max_length=16, description="Claims that must be present."
    )
    subject_claim: str = Field("sub", max_length=64, description="Claim naming the principal.")
    team_claim: str | None = Field(None, max_length=64, description="Claim naming the team.")
    roles_claim: str | None = Field(None, max_length=64, description="Claim listing roles.")
    scope_claim: str | None = Field(
        None, max_length=64, description="Claim listing scopes (default: 'scope' then 'scp')."
    )
    principal_kind: Literal["user", "service"] = Field("user", description="Kind of principal.")
    refresh_interval: float = Field(300.0, ge=1, le=86400, description="JWKS refresh, seconds.")
    min_refresh_interval: float = Field(
        10.0, ge=0, le=3600, description="Least seconds between unknown-kid refreshes."
    )


class _Issuer:
    def __init__(self, config: IssuerConfig) -> None:
        self.config = config
        self.keys: KeySet | None = None
        self.kids: frozenset[str] = frozenset()
        self.last_attempt = -1e18
        self.memo: dict[bytes, tuple[Identity, float]] = {}


class JwtVerifier:
    """Verifies bearer JWTs from several issuers."""

    def __init__(self, issuers: list[IssuerConfig], fetch: Fetcher, clock: Clock) -> None:
        self._issuers = {i.issuer: _Issuer(i) for i in issuers}
        self._fetch = fetch
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for issuer in self._issuers.values():
            await self._refresh(issuer)  # unreachable at start: unknown keys fail closed
        self._task = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _refresh_loop(self) -> None:
        interval = min(i.config.refresh_interval for i in self._issuers.values())
        while True:
            await asyncio.sleep(interval)
            for issuer in self._issuers.values():
                await self._refresh(issuer)

    async def _refresh(self, issuer: _Issuer) -> None:
        issuer.last_attempt = self._clock.monotonic()
        try:
            document = orjson.loads(await self._fetch(issuer.config.jwks_url))
            keys = KeySet.import_key_set(document)
        except (JoseError, ValueError, TypeError, KeyError, OSError) as exc:
            log.warning("JWKS fetch failed", extra={"issuer": issuer.config.name, "err": repr(exc)})
            return
        except Exception:  # a fetcher's own error type (UpstreamError): keep the cached keys
            log.warning("JWKS fetch failed", extra={"issuer": issuer.config.name})
            return
        kids = frozenset(str(k.kid) for k in keys.keys if k.kid)
        if kids != issuer.kids:
            issuer.memo.clear()
        issuer.keys, issuer.kids = keys, kids

    async def verify(self, token: str) -> tuple[Identity | None, str]:
        """The identity, or None with the internal reason (never shown to the client)."""
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock.now()
        try:
            header, claims = _peek(token)
        except (JoseError, ValueError, TypeError):
            return None, "malformed"
        issuer = self._issuers.get(str(claims.get("iss", "")))
        if issuer is None:
            return None, "unknown_issuer"
        cached = issuer.memo.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0], "ok"
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.match(kid):
            return None, "bad_kid"
        if kid not in issuer.kids:
            if self._clock.monotonic() - issuer.last_attempt < issuer.config.min_refresh_interval:
                return None, "unknown_kid"
            await self._refresh(issuer)
            if kid not in issuer.kids:
                return None, "unknown_kid"
        return self._check(issuer, token, digest, now)

    def _check(
        self, issuer: _Issuer, token: str, digest: bytes, now: float
    ) -> tuple[Identity | None, str]:
        config = issuer.config
        assert issuer.keys is not None  # noqa: S101 - kids non-empty implies keys loaded
        try:
            decoded = jwt.decode(token, issuer.keys, algorithms=list(config.algorithms))
            options: dict[str, Any] = {c: {"essential": True} for c in config.required_claims}
            options["iss"] = {"essential": True, "value": config.issuer}
            options["aud"] = {"essential": True, "values": list(config.audience)}
            registry = jwt.JWTClaimsRegistry(now=int(now), leeway=config.leeway, **options)
            registry.validate(decoded.claims)
        except JoseError as exc:
            return None, f"rejected:{type(exc).__name__}"
        identity = _identity(config, decoded.claims, str(decoded.header.get("kid", "")))
        if identity is None:
            return None, "no_subject"
        expires = float(decoded.claims.get("exp", now + 60))
        if len(issuer.memo) >= _MEMO_SIZE:
            issuer.memo.clear()
        issuer.memo[digest] = (identity, expires)
        return identity, "ok"


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unverified header and claims, only to pick the issuer and kid (verified right after)."""
    compact = jws.extract_compact(token.encode())
    claims = orjson.loads(compact.payload)
    if not isinstance(claims, dict):
        raise ValueError("claims are not an object")
    return dict(compact.headers()), claims


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(v) for v in value[:256] if isinstance(v, str | int))
    return frozenset()


def _identity(config: IssuerConfig, claims: dict[str, Any], kid: str) -> Identity | None:
    subject = claims.get(config.subject_claim)
    if not isinstance(subject, str) or not subject or len(subject) > 256:
        return None
    if config.scope_claim is not None:
        scopes = _strings(claims.get(config.scope_claim))
    else:
        scopes = _strings(claims.get("scope")) | _strings(claims.get("scp"))
    team = claims.get(config.team_claim) if config.team_claim else None
    roles = _strings(claims.get(config.roles_claim)) if config.roles_claim else frozenset()
    jti = claims.get("jti")
    return Identity(
        principal_id=f"{config.name}:{subject}",
        kind=PrincipalKind(config.principal_kind),
        method=AuthMethod.JWT,
        credential_id=f"{config.name}#{jti if isinstance(jti, str) else kid}"[:200],
        team=team if isinstance(team, str) else None,
        roles=roles,
        scopes=scopes,
    )
