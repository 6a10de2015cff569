"""Stored identity records: keys, teams, roles and the permissions roles grant."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = [
    "ACTIONS",
    "KeyQuota",
    "KeyRecord",
    "KeySpec",
    "Permission",
    "RoleRecord",
    "SecretHash",
    "TeamRecord",
    "builtin_roles",
]

ACTIONS = ("chat", "completions", "embeddings", "responses", "messages", "models:list")
Action = Literal["*", "chat", "completions", "embeddings", "responses", "messages", "models:list"]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
ModelPattern = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9*][A-Za-z0-9._:/@*-]{0,127}$")]
Scope = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,128}$")]
Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/-]{1,64}$")]
LabelValue = Annotated[str, StringConstraints(max_length=256)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Permission(_Record):
    """Actions on models: ``actions: [chat]``, ``models: ["gpt-4o*"]`` (``*`` matches any run)."""

    actions: tuple[Action, ...] = Field(
        min_length=1, max_length=16, description="Actions granted ('*': all)."
    )
    models: tuple[ModelPattern, ...] = Field(
        ("*",), min_length=1, max_length=256, description="Model name patterns."
    )


class RoleRecord(_Record):
    name: Name = Field(description="Role name.")
    description: str = Field("", max_length=512, description="What the role is for.")
    permissions: tuple[Permission, ...] = Field(
        (), max_length=256, description="What the role grants."
    )
    builtin: bool = Field(False, description="Shipped with Vallum; read-only.")
    quota: KeyQuota | None = Field(
        None, description="Rate-limit fields for each principal holding the role."
    )


class TeamRecord(_Record):
    name: Name = Field(description="Team (tenant) name.")
    description: str = Field("", max_length=512, description="What the team is.")
    roles: tuple[Name, ...] = Field((), max_length=64, description="Roles every team key gets.")
    created_at: float = Field(0.0, ge=0, description="Creation time (epoch seconds).")
    quota: KeyQuota | None = Field(None, description="Rate-limit fields shared by the whole team.")


class KeyQuota(_Record):
    """Limits the rate-limit layer reads; ``None`` means the layer's default."""

    requests_per_minute: int | None = Field(None, ge=0, le=10**9, description="Requests/min.")
    tokens_per_minute: int | None = Field(None, ge=0, le=10**12, description="Tokens/min.")
    tokens_per_day: int | None = Field(None, ge=0, le=10**13, description="Tokens/day.")
    max_concurrent: int | None = Field(None, ge=0, le=10**6, description="Calls in flight.")
    monthly_budget_usd: float | None = Field(None, ge=0, le=1e9, description="Spend/month.")


class KeySpec(_Record):
    """What a caller chooses when creating a key (the admin API body, the CLI flags)."""

    name: str = Field("", max_length=128, description="Human label.")
    owner: str = Field("", max_length=256, description="Who the key belongs to.")
    team: Name | None = Field(None, description="Team (tenant) of the key.")
    roles: tuple[Name, ...] = Field((), max_length=64, description="Roles granted to the key.")
    scopes: tuple[Scope, ...] = Field((), max_length=64, description="OAuth-style scopes.")
    labels: dict[Label, LabelValue] = Field(
        default_factory=dict, max_length=32, description="Free labels."
    )
    allowed_models: tuple[ModelPattern, ...] | None = Field(
        None, max_length=256, description="Narrow the roles to these model patterns."
    )
    allowed_endpoints: tuple[Action, ...] | None = Field(
        None, max_length=16, description="Narrow the roles to these actions."
    )
    allowed_ips: tuple[str, ...] = Field(
        (), max_length=64, description="Client CIDRs the key works from (empty: any)."
    )
    expires_at: float | None = Field(None, ge=0, description="Expiry (epoch seconds).")
    quota: KeyQuota = Field(default_factory=KeyQuota, description="Rate-limit fields.")

    @field_validator("allowed_ips")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_network(item, strict=False)) for item in value)


class SecretHash(_Record):
    hash: str = Field(max_length=256, description="Peppered hash of a secret.")
    not_after: float | None = Field(None, description="End of a rotation grace period.")


class KeyRecord(KeySpec):
    public_id: str = Field(max_length=64, description="Public id (the key's first part).")
    created_at: float = Field(ge=0, description="Creation time.")
    created_by: str = Field("", max_length=256, description="Who created it.")
    revoked_at: float | None = Field(None, description="Revocation time.")
    secrets: tuple[SecretHash, ...] = Field(max_length=8, description="Live secret hashes.")

    def __repr__(self) -> str:  # hashes are not secrets, but keep them out of logs anyway
        return f"KeyRecord(public_id={self.public_id!r}, team={self.team!r})"

    def state(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


def builtin_roles() -> dict[str, RoleRecord]:
    """Roles every store has. ``user``: every action on every model; ``reader``: list models."""
    return {
        "user": RoleRecord(
            name="user",
            description="Every action on every model.",
            permissions=(Permission(actions=("*",), models=("*",)),),
            builtin=True,
        ),
        "reader": RoleRecord(
            name="reader",
            description="List models only.",
            permissions=(Permission(actions=("models:list",), models=("*",)),),
            builtin=True,
        ),
    }
