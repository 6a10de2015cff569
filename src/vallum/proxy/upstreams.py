"""Providers and model routing: the client names a model, Vallum alone decides the host."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from vallum.config.models import GatewayConfig, ModelRoute, ProviderConfig
from vallum.errors import BadRequest, ConfigError, NotFound
from vallum.pipeline.exchange import Endpoint
from vallum.providers.base import UpstreamRequest, UpstreamResponse
from vallum.proxy.http_client import HttpClient

__all__ = ["ModelRouter", "Provider", "Route"]

_OPENAI_ENDPOINTS = {
    Endpoint.CHAT: "/chat/completions",
    Endpoint.COMPLETIONS: "/completions",
    Endpoint.EMBEDDINGS: "/embeddings",
    Endpoint.RESPONSES: "/responses",
}
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]{1,256}$")
_PASS_HEADERS = {
    "anthropic": ("anthropic-version", "anthropic-beta"),
    "openai": ("openai-beta",),
    "mock": ("anthropic-version", "anthropic-beta", "openai-beta"),
}


class Provider:
    """One upstream: where requests go, with the credential Vallum holds for it."""

    def __init__(self, config: ProviderConfig, client: HttpClient, mock: object | None) -> None:
        self.name = config.name
        self.kind = config.type
        self.base_url = (config.base_url or "mock://local").rstrip("/")
        self._client = client
        self._mock = mock
        self._auth = _auth_headers(config, _credential(config))

    def supports(self, endpoint: Endpoint) -> bool:
        if self.kind == "anthropic":
            return endpoint is Endpoint.MESSAGES
        if self.kind == "openai":
            return endpoint in _OPENAI_ENDPOINTS
        return True

    def url(self, endpoint: Endpoint) -> str:
        if endpoint is Endpoint.MESSAGES:
            return self.base_url + "/v1/messages"
        suffix = _OPENAI_ENDPOINTS[endpoint]
        return self.base_url + ("/v1" + suffix if self.kind == "mock" else suffix)

    def build(
        self, endpoint: Endpoint, body: bytes, stream: bool, client_headers: dict[str, str]
    ) -> UpstreamRequest:
        headers = [("content-type", "application/json"), *self._auth]
        for name in _PASS_HEADERS[self.kind]:
            value = client_headers.get(name)
            if value is not None and _HEADER_VALUE.match(value):
                headers.append((name, value))
        if endpoint is Endpoint.MESSAGES and "anthropic-version" not in client_headers:
            headers.append(("anthropic-version", "2023-06-01"))
        if stream:
            headers.append(("accept", "text/event-stream"))
        return UpstreamRequest("POST", self.url(endpoint), headers, body, stream)

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        if self._mock is not None:
            from vallum.providers.mock import MockModel

            assert isinstance(self._mock, MockModel)  # noqa: S101 - built that way in __init__
            return await self._mock.handle(request)
        return await self._client.request(request)


def _credential(config: ProviderConfig) -> str | None:
    if config.api_key_env:
        value = os.environ.get(config.api_key_env)
        if not value:
            raise ConfigError(
                f"providers[{config.name}]: environment variable {config.api_key_env} is not set"
            )
        return value.strip()
    if config.api_key_file:
        try:
            return Path(config.api_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"providers[{config.name}]: cannot read api_key_file ({exc.strerror})"
            ) from exc
    return None


def _auth_headers(config: ProviderConfig, credential: str | None) -> list[tuple[str, str]]:
    if credential is None:
        return []
    if not _HEADER_VALUE.match(credential):
        raise ConfigError(f"providers[{config.name}]: the credential has invalid characters")
    if config.type == "anthropic":
        return [("x-api-key", credential)]
    return [("authorization", f"Bearer {credential}")]


@dataclass(frozen=True, slots=True)
class Route:
    provider: Provider
    upstream_model: str | None


class ModelRouter:
    """Exact model names first, then the longest matching ``prefix*`` route."""

    def __init__(self, config: GatewayConfig, client: HttpClient) -> None:
        self.providers: dict[str, Provider] = {}
        for provider_config in config.providers:
            mock = None
            if provider_config.type == "mock":
                from vallum.providers.mock import MockModel, MockSettings

                m = provider_config.mock
                mock = MockModel(MockSettings(m.reply, m.chunks, m.chunk_gap, m.latency))
            self.providers[provider_config.name] = Provider(provider_config, client, mock)
        self._exact: dict[str, ModelRoute] = {}
        self._prefixes: list[tuple[str, ModelRoute]] = []
        for route in config.models:
            if route.name.endswith("*"):
                self._prefixes.append((route.name[:-1], route))
            else:
                self._exact[route.name] = route
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def model_names(self) -> list[str]:
        return list(self._exact)

    def resolve(self, model: str, endpoint: Endpoint) -> Route:
        route = self._exact.get(model)
        if route is None:
            route = next((r for prefix, r in self._prefixes if model.startswith(prefix)), None)
        if route is None:
            raise NotFound(
                "The model does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        provider = self.providers[route.provider]
        if not provider.supports(endpoint):
            raise BadRequest(
                "This model is not available on this endpoint.",
                code="unsupported_endpoint",
                param="model",
            )
        return Route(provider, route.upstream_model)
