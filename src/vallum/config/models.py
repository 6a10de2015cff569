"""The configuration schema: strict models, every field described and bounded."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vallum.admin.config import AdminConfig
from vallum.identity.mtls import TlsConfig

__all__ = [
    "GatewayConfig",
    "LimitsConfig",
    "MockConfig",
    "ModelRoute",
    "ProviderConfig",
    "ServerConfig",
    "StorageConfig",
    "TimeoutsConfig",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@*-]{0,127}$"
_STORAGE_SCHEMES = ("memory", "sqlite", "redis", "rediss", "postgresql", "postgres")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Strict):
    host: str = Field("127.0.0.1", description="Address the proxy listens on.", max_length=255)
    port: int = Field(8080, ge=0, le=65535, description="Port of the proxy listener.")
    workers: int = Field(1, ge=1, le=64, description="Worker processes (each is an instance).")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="CIDRs whose X-Forwarded-For and X-Request-Id headers are believed.",
    )
    instance_id: str | None = Field(None, max_length=64, description="Name in audit records.")
    single_instance: bool = Field(
        False,
        description=(
            "Acknowledge that this is the only instance on a shared PostgreSQL store, so "
            "counters may stay in memory:// (checked at start against the instance registry)."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value


class LimitsConfig(_Strict):
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024, description="Largest request body."
    )
    max_decompressed_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024, description="Cap after gzip/deflate."
    )
    max_header_bytes: int = Field(
        32 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Size of a request head (counted as it arrives), and of a chunked trailer.",
    )
    max_json_depth: int = Field(64, ge=4, le=512, description="Deepest JSON nesting accepted.")
    max_messages: int = Field(4096, ge=1, le=1_000_000, description="Most messages in a request.")
    max_parts: int = Field(
        8192,
        ge=1,
        le=1_000_000,
        description="Most text parts in a request (contents, names, tool descriptions): "
        "parsing stops with a 400 past it.",
    )
    max_response_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024, description="Largest upstream body."
    )
    max_connections: int = Field(
        4096,
        ge=16,
        le=1_000_000,
        description="Open client connections per process (capped by the file-descriptor limit).",
    )
    max_connections_per_client: int = Field(
        256,
        ge=1,
        le=1_000_000,
        description="Open connections per client address (trusted proxies are not counted).",
    )


class TimeoutsConfig(_Strict):
    connect: float = Field(5.0, gt=0, le=120, description="Seconds to connect to an upstream.")
    read: float = Field(
        120.0, gt=0, le=3600, description="Seconds to wait for the upstream's next bytes."
    )
    total: float = Field(600.0, gt=0, le=7200, description="Seconds for a whole non-streamed call.")
    stream_idle: float = Field(
        120.0, gt=0, le=3600, description="Seconds a stream may stay silent before it is cut."
    )
    client_head: float = Field(
        10.0, gt=0, le=600, description="Seconds a client has to send a whole request head."
    )
    client_body_idle: float = Field(
        30.0, gt=0, le=3600, description="Seconds a request body may pause between bytes."
    )


class MockConfig(_Strict):
    reply: str = Field(
        "Hello! This is Vallum's mock model.", max_length=100_000, description="mock-fast's reply."
    )
    chunks: int = Field(20, ge=1, le=10_000, description="Content events per streamed reply.")
    chunk_gap: float = Field(0.0, ge=0, le=60, description="Seconds between stream events.")
    latency: float = Field(0.0, ge=0, le=60, description="Seconds before the first byte.")
    scripts: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")],
        Annotated[str, StringConstraints(max_length=100_000)],
    ] = Field(
        default_factory=dict,
        max_length=1024,
        description="Named directives that a [[mock:run:NAME]] marker in a request plays.",
    )


class BreakerConfig(_Strict):
    failure_threshold: int = Field(3, ge=1, le=1000, description="Straight failures that open it.")
    open_seconds: float = Field(5.0, gt=0, le=3600, description="Wait before a half-open trial.")
    max_open_seconds: float = Field(
        60.0, gt=0, le=86400, description="Longest wait after repeated failed trials."
    )


class HealthCheckConfig(_Strict):
    path: str = Field(
        "/models", pattern=r"^/[A-Za-z0-9._~/-]{0,255}$", description="GET this below base_url."
    )
    interval: float = Field(10.0, ge=0.5, le=3600, description="Seconds between probes.")
    timeout: float = Field(2.0, gt=0, le=60, description="Seconds before a probe counts as failed.")


class ProviderConfig(_Strict):
    name: str = Field(pattern=_NAME, description="Name that model routes refer to.")
    type: Literal["openai", "anthropic", "mock"] = Field(description="Wire format of the upstream.")
    base_url: str | None = Field(
        None,
        max_length=2048,
        validate_default=True,
        description="Upstream base URL (OpenAI: ending in /v1; Anthropic: the host root).",
    )
    api_key_env: str | None = Field(
        None, max_length=256, description="Environment variable holding the upstream credential."
    )
    api_key_file: str | None = Field(
        None, max_length=4096, description="File holding the upstream credential."
    )
    mock: MockConfig = Field(default_factory=MockConfig, description="Settings of a mock provider.")
    breaker: BreakerConfig = Field(
        default_factory=lambda: BreakerConfig(), description="Passive health: circuit breaker."
    )
    health_check: HealthCheckConfig | None = Field(
        None, description="Active health: a periodic probe of a cheap endpoint."
    )

    # Field validators (not a model validator), so errors name the field: providers[1].base_url.
    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type", "mock") == "mock":
            return value
        if not value or not re.match(r"^https?://[^\s/?#@]+(/[^\s?#]*)?$", value):
            raise ValueError("base_url must be an http(s) URL without query or credentials")
        return value

    @field_validator("api_key_file")
    @classmethod
    def _one_credential(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and info.data.get("api_key_env"):
            raise ValueError("give api_key_env or api_key_file, not both")
        return value


class DeploymentConfig(_Strict):
    provider: str = Field(pattern=_NAME, description="The provider serving this deployment.")
    upstream_model: str | None = Field(
        None, pattern=_NAME, description="Name sent upstream, if different from the alias."
    )
    weight: int = Field(1, ge=1, le=1000, description="Share of traffic (weighted round-robin).")


class RetryConfig(_Strict):
    attempts: int = Field(
        3, ge=1, le=10, description="Tries across deployments, the first included."
    )
    backoff: float = Field(
        0.05, ge=0, le=10, description="Seconds before the second try (doubles)."
    )
    max_backoff: float = Field(1.0, ge=0, le=60, description="Longest wait between tries.")


class ModelRoute(_Strict):
    name: str = Field(
        pattern=_NAME, description="Model name clients send; '*' at the end matches a prefix."
    )
    provider: str | None = Field(
        None, pattern=_NAME, description="The provider serving it (or list `deployments`)."
    )
    upstream_model: str | None = Field(
        None, pattern=_NAME, description="Name sent upstream, if different."
    )
    deployments: list[DeploymentConfig] = Field(
        default_factory=list, max_length=64, description="Several deployments behind this alias."
    )
    strategy: Literal["weighted_round_robin", "least_in_flight"] = Field(
        "weighted_round_robin", description="How a deployment is chosen."
    )
    sticky: bool = Field(False, description="Keep each caller on one deployment while healthy.")
    fallbacks: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Other model names to try when every deployment failed (caller must be "
        "permitted to use them too).",
    )
    retry: RetryConfig = Field(default_factory=RetryConfig, description="Retries and failover.")

    @model_validator(mode="after")
    def _one_target(self) -> ModelRoute:
        if (self.provider is None) == (not self.deployments):
            raise ValueError("give either provider (+ upstream_model) or deployments, not both")
        return self

    def targets(self) -> list[DeploymentConfig]:
        """The deployments of this alias (a single `provider` is one deployment)."""
        if self.provider is not None:
            return [DeploymentConfig(provider=self.provider, upstream_model=self.upstream_model)]
        return list(self.deployments)


class StorageConfig(_Strict):
    url: str = Field(
        "sqlite:///.vallum/vallum.db",
        max_length=2048,
        description="Durable state: keys, policies, audit (sqlite:// or postgresql://).",
    )
    counters_url: str = Field(
        "memory://",
        max_length=2048,
        description="Counters and hot state: memory:// (one process) or redis://.",
    )
    namespace: str = Field(
        "vallum",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,39}$",
        description="Prefix of every key (Redis) and schema name (PostgreSQL) of this gateway.",
    )
    connect_timeout: float = Field(
        5.0, gt=0, le=120, description="Seconds one attempt to open a backend may take."
    )
    start_timeout: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="Seconds start-up keeps retrying an unreachable backend (with backoff).",
    )

    # Checked here too (open_storage checks again), so check-config catches a mistyped scheme.
    @field_validator("url", "counters_url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in _STORAGE_SCHEMES:
            known = ", ".join(_STORAGE_SCHEMES)
            raise ValueError(f"unknown storage URL scheme; use one of: {known}")
        return value


class GatewayConfig(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    providers: list[ProviderConfig] = Field(default_factory=list, max_length=256)
    models: list[ModelRoute] = Field(default_factory=list, max_length=4096)
    layers: list[dict[str, Any]] = Field(
        default_factory=list, max_length=64, description="The layers, in order of execution."
    )
    admin: AdminConfig = Field(default_factory=AdminConfig, description="The admin API.")
    tls: TlsConfig | None = Field(None, description="Terminate TLS (and mTLS) in Vallum.")

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        names = [p.name for p in self.providers]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"providers: duplicate provider names: {sorted(duplicates)}")
        aliases = [m.name for m in self.models]
        dup_models = {n for n in aliases if aliases.count(n) > 1}
        if dup_models:
            raise ValueError(f"models: duplicate model names: {sorted(dup_models)}")
        for index, route in enumerate(self.models):
            for target in route.targets():
                if target.provider not in names:
                    raise ValueError(f"models[{index}]: unknown provider '{target.provider}'")
            for fallback in route.fallbacks:
                if fallback not in aliases or fallback == route.name or fallback.endswith("*"):
                    raise ValueError(
                        f"models[{index}].fallbacks: '{fallback}' is not another configured "
                        "exact model name"
                    )
        self._counted_per_process()
        return self

    def _counted_per_process(self) -> None:
        """Refuse combinations under which limits would be counted per process."""
        counters = self.storage.counters_url.split("://", 1)[0].lower()
        durable = self.storage.url.split("://", 1)[0].lower()
        if counters not in ("memory", "sqlite"):
            return
        if self.server.workers > 1:
            raise ValueError(
                "server.workers, storage.counters_url: more than 1 worker needs shared "
                f"counters (redis://…); with {counters}:// each worker counts rate limits "
                "itself, so limits would silently multiply"
            )
        if durable in ("postgresql", "postgres") and not self.server.single_instance:
            raise ValueError(
                f"storage.counters_url, storage.url: {counters}:// counters count in this "
                "process, but a PostgreSQL store is shared, so instances could be many and "
                "each would count alone; use redis://… counters, or set "
                "server.single_instance: true if this is the only instance"
            )
