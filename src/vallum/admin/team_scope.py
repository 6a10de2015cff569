"""What a team-scoped admin may grant: only the roles, scopes and quotas its team holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vallum.errors import Forbidden
from vallum.identity.records import KeyQuota, KeySpec, TeamRecord

if TYPE_CHECKING:
    from vallum.identity.store import IdentityStore

__all__ = ["check_grantable"]


async def check_grantable(gateway: Any, store: IdentityStore, team: str, spec: KeySpec) -> None:
    """Refuse (403) a key that would hold more than ``team`` does.

    Roles must be the team's own; a scope may only map (authz ``scope_roles``) to team
    roles; each quota field set on the key must be at most the team's value for it, and
    a field the team leaves unset cannot be set by its admin at all.
    """
    record = await store.get_team(team)
    held = set(record.roles) if record is not None else set()
    foreign = sorted(set(spec.roles) - held)
    if foreign:
        raise Forbidden(
            "A team admin may grant only roles its team holds.",
            code="admin_scope",
            context={"roles": foreign[:8]},
        )
    scope_roles = _scope_roles(gateway)
    for scope in spec.scopes:
        if not set(scope_roles.get(scope, ())) <= held:
            raise Forbidden(
                "A team admin may grant only scopes whose roles its team holds.",
                code="admin_scope",
            )
    _check_quota(spec.quota, record)


def _check_quota(quota: KeyQuota, team: TeamRecord | None) -> None:
    limits = team.quota if team is not None else None
    for name, value in quota.model_dump(exclude_none=True).items():
        ceiling = getattr(limits, name, None) if limits is not None else None
        if ceiling is None or value > ceiling:
            raise Forbidden(
                f"A team admin may set '{name}' only up to the team's own quota.",
                code="admin_scope",
                param=f"quota.{name}",
            )


def _scope_roles(gateway: Any) -> dict[str, tuple[str, ...]]:
    """The authz layer's scope -> roles mapping (empty without an authz layer)."""
    from vallum.layers.authz import Authz

    pipeline = getattr(gateway, "pipeline", None)
    for layer in getattr(pipeline, "layers", ()):
        if isinstance(layer, Authz):
            return dict(layer.config.scope_roles)
    return {}
