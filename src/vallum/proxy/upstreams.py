"""Providers and model routing: the client names a model, Vallum alone decides the host."""

from __future__ import annotations

import os
import re
from pathlib import Path

from vallum.config.models import ProviderConfig
from vallum.errors import ConfigError
from vallum.pipeline.exchange import Endpoint
from vallum.providers.base import UpstreamRequest, UpstreamResponse
from vallum.proxy.http_client import HttpClient

__all__ = ["Provider"]

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

    def auth_headers(self) -> list[tuple[str, str]]:
        return list(self._auth)

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
