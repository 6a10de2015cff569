"""The configuration schema: strict models, every field described and bounded."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")


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
        32 * 1024, ge=1024, le=1024 * 1024, description="Total size of request headers."
    )
    max_json_depth: int = Field(64, ge=4, le=512, description="Deepest JSON nesting accepted.")
    max_messages: int = Field(4096, ge=1, le=1_000_000, description="Most messages in a request.")
    max_response_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024, description="Largest upstream body."
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


class MockConfig(_Strict):
    reply: str = Field(
        "Hello! This is Vallum's mock model.", max_length=100_000, description="mock-fast's reply."
    )
    chunks: int = Field(20, ge=1, le=10_000, description="Content events per streamed reply.")
    chunk_gap: float = Field(0.0, ge=0, le=60, description="Seconds between stream events.")
    latency: float = Field(0.0, ge=0, le=60, description="Seconds before the first byte.")


class ProviderConfig(_Strict):
    name: str = Field(pattern=_NAME, description="Name that model routes refer to.")
    type: Literal["openai", "anthropic", "mock"] = Field(description="Wire format of the upstream.")
    base_url: str | None = Field(
        None,
        max_length=2048,
        description="Upstream base URL (OpenAI: ending in /v1; Anthropic: the host root).",
    )
    api_key_env: str | None = Field(
        None, max_length=256, description="Environment variable holding the upstream credential."
    )
    api_key_file: str | None = Field(
        None, max_length=4096, description="File holding the upstream credential."
    )
    mock: MockConfig = Field(default_factory=MockConfig, description="Settings of a mock provider.")

    @model_validator(mode="after")
    def _url(self) -> ProviderConfig:
        if self.type == "mock":
            return self
        if not self.base_url or not re.match(r"^https?://[^\s/?#@]+(/[^\s?#]*)?$", self.base_url):
            raise ValueError("base_url must be an http(s) URL without query or credentials")
        if self.api_key_env and self.api_key_file:
            raise ValueError("give api_key_env or api_key_file, not both")
        return self


class ModelRoute(_Strict):
    name: str = Field(
        pattern=_NAME, description="Model name clients send; '*' at the end matches a prefix."
    )
    provider: str = Field(pattern=_NAME, description="The provider serving it.")
    upstream_model: str | None = Field(
        None, pattern=_NAME, description="Name sent upstream, if different."
    )


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

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        names = [p.name for p in self.providers]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"duplicate provider names: {sorted(duplicates)}")
        aliases = [m.name for m in self.models]
        dup_models = {n for n in aliases if aliases.count(n) > 1}
        if dup_models:
            raise ValueError(f"duplicate model names: {sorted(dup_models)}")
        for index, route in enumerate(self.models):
            if route.provider not in names:
                raise ValueError(f"models[{index}].provider: unknown provider '{route.provider}'")
        if self.server.workers > 1 and self.storage.counters_url.startswith("memory:"):
            raise ValueError(
                "server.workers > 1 needs shared counters (storage.counters_url: redis://…); "
                "per-worker limits would silently multiply"
            )
        return self
