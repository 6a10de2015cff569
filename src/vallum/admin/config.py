"""Config of the admin listener: address and admin credentials (hashed, never plain in YAML)."""

from __future__ import annotations

import hashlib
import hmac
import os

from pydantic import BaseModel, ConfigDict, Field

from vallum.errors import ConfigError

__all__ = [
    "ADMIN_TOKEN_ENV",
    "AdminConfig",
    "AdminCredential",
    "hash_token",
    "require_admin_credentials",
]

ADMIN_TOKEN_ENV = "VALLUM_ADMIN_TOKEN"  # noqa: S105 - the name of an env var, not a token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AdminCredential(BaseModel):
    """One admin bearer token, by its SHA-256; ``team`` limits it to that team's objects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._@-]{0,63}$", description="Who (audit).")
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the token.")
    team: str | None = Field(None, max_length=64, description="Team it may manage (None: all).")


class AdminConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="Run the admin API listener.")
    host: str = Field("127.0.0.1", max_length=255, description="Admin listener address.")
    port: int = Field(8081, ge=0, le=65535, description="Admin listener port.")
    token_env: str = Field(
        ADMIN_TOKEN_ENV, max_length=128, description="Env var holding the super-admin token."
    )
    credentials: tuple[AdminCredential, ...] = Field(
        (), max_length=256, description="More admin tokens (e.g. team admins)."
    )

    def resolve(self, token: str) -> AdminCredential | None:
        """The credential ``token`` belongs to, compared in constant time; None if none."""
        digest = hash_token(token)
        found: AdminCredential | None = None
        env_token = os.environ.get(self.token_env)
        if env_token and hmac.compare_digest(digest, hash_token(env_token)):
            found = AdminCredential(name="admin", token_sha256=digest)
        for credential in self.credentials:
            if hmac.compare_digest(digest, credential.token_sha256) and found is None:
                found = credential
        return found


def require_admin_credentials(admin: AdminConfig) -> None:
    """An enabled admin listener that nobody can log in to is a mistake: refuse to start."""
    if admin.enabled and not admin.credentials and not os.environ.get(admin.token_env):
        raise ConfigError(
            f"admin.enabled is true but {admin.token_env} is not set and admin.credentials is "
            f"empty: no one could use the admin API; set {admin.token_env} or disable admin"
        )
