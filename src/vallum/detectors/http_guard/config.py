"""Config of an HTTP guard tier: which service, where, with which credential."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, model_validator

from vallum.detectors.cascade import TierSettings
from vallum.errors import ConfigError

if TYPE_CHECKING:
    from vallum.detectors.http_guard.tier import HttpGuardTier

__all__ = ["GuardApi", "HttpGuardConfig"]

GuardApi = Literal[
    "openai_moderation",
    "llama_guard",
    "azure_prompt_shields",
    "azure_content_safety",
    "lakera",
]
# what each service judges, by detector kind
DEFAULT_KINDS: dict[str, tuple[str, ...]] = {
    "openai_moderation": ("content",),
    "llama_guard": ("content",),
    "azure_prompt_shields": ("injection",),
    "azure_content_safety": ("content",),
    "lakera": ("injection", "content"),
}


class HttpGuardConfig(TierSettings):
    """A guard service reached over HTTP, consulted as a later tier of a cascade."""

    type: Literal["http_guard"] = "http_guard"
    api: GuardApi = Field(description="The service's API: its request and answer shape.")
    url: str = Field(
        min_length=8,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="Base URL of the service (`https://api.openai.com`, an Azure AI Content "
        "Safety endpoint, `https://api.lakera.ai`, a vLLM server running Llama Guard).",
    )
    model: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="Model name sent to `openai_moderation` (default `omni-moderation-latest`) "
        "and `llama_guard` (required there).",
    )
    api_key: SecretStr | None = Field(
        None, description="The credential itself (prefer `api_key_env`); never logged."
    )
    api_key_env: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the credential, read at start-up.",
    )
    api_version: str = Field(
        "2024-09-01",
        min_length=1,
        max_length=32,
        pattern=r"^[0-9A-Za-z.\-]+$",
        description="The `api-version` query parameter of the Azure APIs.",
    )
    project_id: str | None = Field(
        None, min_length=1, max_length=128, description="Lakera project whose policy applies."
    )
    min_severity: int = Field(
        4,
        ge=0,
        le=7,
        description="`azure_content_safety`: a category at this severity or above is flagged.",
    )
    threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="`openai_moderation`: flag when a category score reaches this (default: "
        "the service's own `flagged`).",
    )
    max_chars: int = Field(
        10_000, ge=1, le=1_000_000, description="Characters of one text sent; the rest is cut."
    )
    cache_size: int = Field(
        4096,
        ge=0,
        le=1_000_000,
        description="Answers remembered per tier, keyed by a hash of the text (0: no cache).",
    )
    concurrency: int = Field(
        16, ge=1, le=1024, description="Calls to the service in flight at once per tier."
    )
    kinds: list[Literal["injection", "content"]] | None = Field(
        None,
        max_length=2,
        description="Detector kinds this tier may judge (default: what the service detects).",
    )

    @model_validator(mode="after")
    def _needs_model(self) -> HttpGuardConfig:
        if self.api == "llama_guard" and self.model is None:
            raise ValueError("`llama_guard` needs `model` (the served Llama Guard model's name)")
        if self.api_key is not None and self.api_key_env is not None:
            raise ValueError("give `api_key` or `api_key_env`, not both")
        return self

    def build(self) -> HttpGuardTier:
        """The tier this config describes (reads the credential now: start-up)."""
        from vallum.detectors.http_guard.tier import HttpGuardTier

        return HttpGuardTier(self)

    def judged_kinds(self) -> frozenset[str]:
        return frozenset(self.kinds if self.kinds is not None else DEFAULT_KINDS[self.api])

    def credential(self) -> str | None:
        """The credential, from config or the environment (raises when the variable is unset)."""
        if self.api_key is not None:
            value = self.api_key.get_secret_value()
        elif self.api_key_env is not None:
            value = os.environ.get(self.api_key_env, "")
            if not value:
                raise ConfigError(
                    f"http_guard ({self.api}): environment variable {self.api_key_env} is not set"
                )
        else:
            return None
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ConfigError(f"http_guard ({self.api}): the credential holds control characters")
        return value
