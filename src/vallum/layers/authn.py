"""``authn``: who is calling — Vallum API key, OIDC JWT, introspected token, or mTLS certificate.

Every failure gets the same 401 and message, whatever went wrong (no oracle); the
internal reason goes to the exchange's findings for the audit record. Failed attempts
are counted per client IP and per key public id for the anomaly layer.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from vallum.errors import ServiceUnavailable, StorageError
from vallum.identity.introspection import IntrospectionConfig, Introspector
from vallum.identity.jwt import IssuerConfig, JwtVerifier, looks_like_jwt
from vallum.identity.keys import KEY_PREFIX, KeyHasher, parse_key
from vallum.identity.model import AuthMethod, Identity, PrincipalKind
from vallum.identity.mtls import ForwardedCertConfig, cert_names, identity_from_mtls
from vallum.identity.records import KeyRecord
from vallum.pipeline.exchange import Exchange, Finding
from vallum.pipeline.layer import Deny, Layer, LayerConfig, LayerContext, ResponseMode
from vallum.providers.base import UpstreamRequest
from vallum.services import Need, Services

__all__ = ["CREDENTIAL_HEADERS", "Authn", "AuthnConfig", "failure_counter_keys"]

log = logging.getLogger("vallum.authn")

CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key")
_DENY = Deny(
    401,
    "invalid_api_key",
    "Invalid authentication credentials.",
    "authentication_error",
    headers={"www-authenticate": 'Bearer realm="vallum"'},
)
_DUMMY_HASH = "hmac-sha256$0$0"


class AuthnConfig(LayerConfig):
    type: Literal["authn"] = Field("authn", description="Selects this layer.")
    methods: tuple[Literal["api_key", "jwt", "mtls", "introspection"], ...] = Field(
        ("api_key",),
        min_length=1,
        max_length=4,
        description="Enabled methods, in order of precedence.",
    )
    issuers: tuple[IssuerConfig, ...] = Field(
        (), max_length=32, description="Trusted JWT issuers (method 'jwt')."
    )
    mtls: ForwardedCertConfig | None = Field(
        None,
        description="Certificate → principal mapping (method 'mtls'): certificates verified by "
        "Vallum's own TLS listener, or forwarded by trusted proxies.",
    )
    introspection: IntrospectionConfig | None = Field(
        None, description="RFC 7662 endpoint for opaque bearer tokens (method 'introspection')."
    )
    failure_window: float = Field(
        300.0, gt=0, le=86400, description="Window of the failed-authentication counters, s."
    )

    @model_validator(mode="after")
    def _methods(self) -> AuthnConfig:
        if "jwt" in self.methods and not self.issuers:
            raise ValueError("method 'jwt' needs at least one entry in 'issuers'")
        if "mtls" in self.methods and self.mtls is None:
            raise ValueError("method 'mtls' needs the 'mtls' section")
        if "introspection" in self.methods and self.introspection is None:
            raise ValueError("method 'introspection' needs the 'introspection' section")
        return self


_MISS_TTL = 5.0  # seconds before the store is asked again about the same unknown key id
_MISS_RATE = 20  # store look-ups of unknown key ids per second, at most


def failure_counter_keys(client_ip: str, public_id: str | None) -> list[str]:
    """Counter keys the anomaly layer reads: ``authn:fail:ip:<ip>``, ``authn:fail:key:<id>``."""
    keys = [f"authn:fail:ip:{client_ip}"]
    if public_id is not None:
        keys.append(f"authn:fail:key:{public_id}")
    return keys


class Authn(Layer[AuthnConfig]):
    """Produces ``exchange.identity`` or denies with one generic 401."""

    name: ClassVar[str] = "authn"
    Config: ClassVar[type[LayerConfig]] = AuthnConfig
    needs_body: ClassVar[bool] = False
    response_mode: ClassVar[ResponseMode] = ResponseMode.NONE
    # keys and teams; JWKS and introspection over HTTP; failed-attempt counters (anomaly)
    needs: ClassVar[frozenset[Need]] = frozenset({Need.IDENTITY, Need.HTTP, Need.COUNTERS})

    def __init__(self, config: AuthnConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        self._networks: dict[tuple[str, ...], list[Any]] = {}
        self._identities: dict[str, tuple[int, KeyRecord, Identity]] = {}
        self._cert_names: dict[bytes, set[str] | None] = {}
        self._misses: dict[str, float] = {}  # unknown key id -> when the store was last asked
        self._miss_second, self._misses_this_second = 0.0, 0
        self._jwt: JwtVerifier | None = None
        if "jwt" in config.methods:
            self._jwt = JwtVerifier(list(config.issuers), self._fetch, context.clock)
        self._introspector: Introspector | None = None
        if "introspection" in config.methods and config.introspection is not None:
            self._introspector = Introspector(config.introspection, self._post, context.clock)

    def _services(self) -> Services:
        services = self.context.services
        if services is None:
            raise ServiceUnavailable("authn runs without a gateway's services.")
        return services

    async def start(self) -> None:
        if self._jwt is not None:
            await self._jwt.start()
        if self._introspector is not None:
            self._introspector.start()

    async def stop(self) -> None:
        if self._jwt is not None:
            await self._jwt.stop()

    async def _fetch(self, url: str) -> bytes:
        response = await self._services().http.request(
            UpstreamRequest("GET", url, [("accept", "application/json")], b"")
        )
        if response.status != 200:
            raise OSError(f"JWKS endpoint answered {response.status}")
        body: bytes = response.body
        return body

    async def _post(
        self, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, bytes]:
        response = await self._services().http.request(UpstreamRequest("POST", url, headers, body))
        return int(response.status), bytes(response.body)

    async def on_request(self, exchange: Exchange) -> Deny | None:
        credential = _credential(exchange.headers)
        for header in CREDENTIAL_HEADERS:  # later layers, logs and upstreams never see it
            exchange.headers.pop(header, None)
        identity, reason, public_id = await self._authenticate(exchange, credential)
        if identity is not None:
            exchange.identity = identity
            return None
        exchange.add_finding(Finding(self.name, "auth_failed", detail=reason))
        await self._count_failure(exchange.client_ip, public_id)
        return _DENY

    async def _authenticate(
        self, exchange: Exchange, credential: str | None
    ) -> tuple[Identity | None, str, str | None]:
        if credential == "":
            return None, "ambiguous_credentials", None
        for method in self.config.methods:
            if method == "api_key" and credential is not None and credential.startswith(KEY_PREFIX):
                found = self._api_key(exchange, credential)
                if found[1] == "unknown_key" and await self._looked_up(found[2]):
                    found = self._api_key(exchange, credential)  # created a moment ago
                return found
            if method == "jwt" and credential is not None and looks_like_jwt(credential):
                assert self._jwt is not None  # noqa: S101 - set whenever the method is on
                identity, reason = await self._jwt.verify(credential)
                return identity, reason, None
            if method == "introspection" and self._opaque(credential):
                assert self._introspector is not None  # noqa: S101 - set whenever the method is on
                identity, reason = await self._introspector.verify(str(credential))
                return identity, reason, None
            if method == "mtls" and self.config.mtls is not None:
                identity, reason = self._mtls(self.config.mtls, exchange)
                if identity is not None or reason != "absent":
                    return identity, reason, None
        return None, "no_credential" if credential is None else "unrecognised_credential", None

    def _opaque(self, credential: str | None) -> bool:
        """A token for introspection: never a Vallum key, nor a JWT when method 'jwt' is on."""
        if credential is None or credential.startswith(KEY_PREFIX):
            return False
        return self._jwt is None or not looks_like_jwt(credential)

    def _mtls(self, config: ForwardedCertConfig, exchange: Exchange) -> tuple[Identity | None, str]:
        der = exchange.client_cert
        names = None
        if der is not None:
            if der not in self._cert_names:
                if len(self._cert_names) > 10_000:
                    self._cert_names.clear()
                self._cert_names[der] = cert_names(der)
            names = self._cert_names[der]
        # a forwarded certificate is believed from the TCP peer, never the resolved client
        return identity_from_mtls(config, exchange.headers, exchange.peer_ip, der, names)

    async def _looked_up(self, public_id: str | None) -> bool:
        """Read a key this replica does not know yet from the store, at most once per id a
        few seconds and a bounded number of times a second (unknown ids are cheap to send):
        a key made by the CLI or on another replica works on its first call."""
        services = self.context.services
        service = services.identity if services is not None else None
        if public_id is None or service is None:
            return False
        now = self.context.clock.monotonic()
        if now - self._miss_second >= 1.0:
            self._miss_second, self._misses_this_second = now, 0
        last = self._misses.get(public_id)
        if (last is not None and now - last < _MISS_TTL) or self._misses_this_second >= _MISS_RATE:
            return False
        self._misses_this_second += 1
        self._misses[public_id] = now
        if len(self._misses) > 10_000:
            self._misses.clear()
        try:
            await service.cache.refresh("key", public_id)
        except StorageError:
            return False
        return service.cache.key(public_id) is not None

    def _api_key(
        self, exchange: Exchange, credential: str
    ) -> tuple[Identity | None, str, str | None]:
        services = self.context.services
        service = services.identity if services is not None else None
        parsed = parse_key(credential)
        if parsed is None or service is None:
            return None, "malformed_key", None
        public_id, secret = parsed
        cache = service.cache
        hasher: KeyHasher = service.store.hasher
        record = cache.key(public_id)
        now = self.context.clock.now()
        if record is None:
            hasher.verify(public_id, secret, _DUMMY_HASH)  # same work as a known id
            return None, "unknown_key", public_id
        if not _secret_matches(hasher, record, public_id, secret, now):
            return None, "bad_secret", public_id
        state = record.state(now)
        if state != "active":
            return None, f"key_{state}", public_id
        if record.allowed_ips and not self._ip_allowed(record.allowed_ips, exchange.client_ip):
            return None, "ip_not_allowed", public_id
        cache.touch(public_id, now)
        return self._key_identity(record, cache.generation), "ok", public_id

    def _ip_allowed(self, cidrs: tuple[str, ...], client_ip: str) -> bool:
        networks = self._networks.get(cidrs)
        if networks is None:
            networks = self._networks[cidrs] = [ipaddress.ip_network(c) for c in cidrs]
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(address in network for network in networks)

    def _key_identity(self, record: KeyRecord, generation: int) -> Identity:
        memo = self._identities.get(record.public_id)
        if memo is not None and memo[0] == generation and memo[1] is record:
            return memo[2]
        service = self._services().identity
        team = service.cache.team(record.team) if service and record.team else None
        roles = frozenset(record.roles) | frozenset(team.roles if team else ())
        quota = tuple(
            (name, float(value))
            for name, value in record.quota.model_dump().items()
            if value is not None
        )
        identity = Identity(
            principal_id=record.owner or f"key:{record.public_id}",
            kind=PrincipalKind.KEY,
            method=AuthMethod.API_KEY,
            credential_id=record.public_id,
            team=record.team,
            roles=roles,
            scopes=frozenset(record.scopes),
            allowed_models=record.allowed_models,
            allowed_actions=(
                None if record.allowed_endpoints is None else frozenset(record.allowed_endpoints)
            ),
            labels=tuple(sorted(record.labels.items())),
            quota=quota,
        )
        if len(self._identities) > 100_000:
            self._identities.clear()
        self._identities[record.public_id] = (generation, record, identity)
        return identity

    async def _count_failure(self, client_ip: str, public_id: str | None) -> None:
        services = self.context.services
        if services is None or not services.started:
            return
        try:
            for key in failure_counter_keys(client_ip, public_id):
                await services.counters.counters.add(key, 1, window=self.config.failure_window)
        except StorageError:
            log.warning("failed-authentication counter not written")


def _secret_matches(
    hasher: KeyHasher, record: KeyRecord, public_id: str, secret: str, now: float
) -> bool:
    matched = False
    for stored in record.secrets:
        live = stored.not_after is None or stored.not_after > now
        # every live hash is compared, so the time taken does not say which one matched
        matched = (hasher.verify(public_id, secret, stored.hash) and live) or matched
    return matched


def _credential(headers: dict[str, str]) -> str | None:
    """The one credential of the request; ``""`` when several different ones are given."""
    found: list[str] = []
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        found.append(value.strip() if scheme.lower() == "bearer" else "")
    for name in ("x-api-key", "api-key"):
        given = headers.get(name)
        if given is not None:
            found.append(given.strip())
    if not found:
        return None
    first = found[0]
    encoded = first.encode("latin-1", "replace")
    if not first or any(
        not hmac.compare_digest(encoded, other.encode("latin-1", "replace")) for other in found[1:]
    ):
        return ""
    return first
