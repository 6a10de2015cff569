"""``authz``: deny by default; roles grant actions on model patterns, keys narrow them further.

The policy is the server's alone: roles come from the identity store and this layer's
config, keyed by the identity that ``authn`` established. Nothing in the request body
or headers is consulted, so a request cannot widen what it may do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import Field

from vallum.identity.model import Grant, Identity, compile_patterns
from vallum.identity.records import Name, Permission, RoleRecord, builtin_roles
from vallum.identity.service import IdentityService
from vallum.pipeline.attachments import MODEL_ACCESS, ModelAccess
from vallum.pipeline.exchange import Endpoint, Exchange, Finding
from vallum.pipeline.layer import Deny, Layer, LayerConfig, LayerContext, ResponseMode
from vallum.services import Need

__all__ = ["ACTION_OF", "Authz", "AuthzConfig", "grants_for"]

ACTION_OF = {
    Endpoint.CHAT: "chat",
    Endpoint.COMPLETIONS: "completions",
    Endpoint.EMBEDDINGS: "embeddings",
    Endpoint.RESPONSES: "responses",
    Endpoint.MESSAGES: "messages",
    Endpoint.MODELS: "models:list",
}
_UNAUTHENTICATED = Deny(
    401, "invalid_api_key", "Invalid authentication credentials.", "authentication_error"
)
_ENDPOINT = Deny(
    403, "endpoint_not_allowed", "This credential may not call this endpoint.", "permission_error"
)
_MODEL = Deny(
    403, "model_not_allowed", "This credential may not use this model.", "permission_error"
)


class AuthzConfig(LayerConfig):
    type: Literal["authz"] = Field("authz", description="Selects this layer.")
    roles: dict[Name, tuple[Permission, ...]] = Field(
        default_factory=dict,
        max_length=256,
        description="Roles defined in config (they override stored roles of the same name).",
    )
    default_roles: tuple[Name, ...] = Field(
        (), max_length=16, description="Roles every authenticated identity gets (deny: none)."
    )
    scope_roles: dict[str, tuple[Name, ...]] = Field(
        default_factory=dict,
        max_length=256,
        description="Roles granted by a token scope (e.g. 'vallum.chat': [user]).",
    )


def grants_for(roles: Iterable[RoleRecord], identity: Identity) -> tuple[Grant, ...]:
    """The identity's grants: its roles' permissions, narrowed by the credential's own limits."""
    narrow_actions = identity.allowed_actions
    narrow_models = identity.allowed_models
    out: list[Grant] = []
    for role in roles:
        for permission in role.permissions:
            actions: frozenset[str] = frozenset(permission.actions)
            if narrow_actions is not None:
                actions = narrow_actions if "*" in actions else actions & narrow_actions
            if not actions:
                continue
            patterns = permission.models
            matcher = compile_patterns(patterns)
            if narrow_models is not None:
                narrowed = compile_patterns(narrow_models)
                matcher = _both(matcher, narrowed)
            out.append(Grant(actions, patterns, matcher))
    return tuple(out)


def _both(first: Any, second: Any) -> Any:
    """A matcher that needs both patterns (role grant and key narrowing) to match."""
    import re

    return re.compile(f"(?=(?:{first.pattern}))(?:{second.pattern})")


def _uses_models(grant: Grant) -> bool:
    return bool(grant.actions - {"models:list"}) or "*" in grant.actions


class Authz(Layer[AuthzConfig]):
    """Checks the endpoint's action and the requested model against the identity's grants."""

    name: ClassVar[str] = "authz"
    Config: ClassVar[type[LayerConfig]] = AuthzConfig
    needs_body: ClassVar[bool] = True  # the model it checks is in the body
    response_mode: ClassVar[ResponseMode] = ResponseMode.NONE
    needs: ClassVar[frozenset[Need]] = frozenset({Need.IDENTITY})  # stored roles

    def __init__(self, config: AuthzConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        self._memo: dict[tuple[Any, ...], tuple[Grant, ...]] = {}
        self._memo_generation = -1

    def _roles(self, identity: Identity) -> list[RoleRecord]:
        names = set(identity.roles) | set(self.config.default_roles)
        for scope in identity.scopes:
            names.update(self.config.scope_roles.get(scope, ()))
        service = self._identity()
        stored = service.cache.roles if service is not None else builtin_roles()
        roles = []
        for name in sorted(names):
            permissions = self.config.roles.get(name)
            if permissions is not None:
                roles.append(RoleRecord(name=name, permissions=permissions))
            elif name in stored:
                roles.append(stored[name])
        return roles

    def _identity(self) -> IdentityService | None:
        services = self.context.services
        return services.identity if services is not None else None

    def grants(self, identity: Identity) -> tuple[Grant, ...]:
        """Resolved grants, memoised until the identity store changes."""
        service = self._identity()
        generation = service.cache.generation if service is not None else 0
        if generation != self._memo_generation or len(self._memo) > 10_000:
            self._memo, self._memo_generation = {}, generation
        memo_key = (
            identity.roles,
            identity.scopes,
            identity.allowed_actions,
            identity.allowed_models,
        )
        grants = self._memo.get(memo_key)
        if grants is None:
            grants = self._memo[memo_key] = grants_for(self._roles(identity), identity)
        return grants

    async def on_request(self, exchange: Exchange) -> Deny | None:
        identity = exchange.identity
        if not isinstance(identity, Identity) or exchange.endpoint is None:
            exchange.add_finding(Finding(self.name, "no_identity"))
            return _UNAUTHENTICATED
        grants = self.grants(identity)
        exchange.identity = _with_grants(identity, grants)
        action = ACTION_OF[exchange.endpoint]
        permitted = [g for g in grants if g.allows_action(action)]
        if not permitted:
            exchange.add_finding(Finding(self.name, "endpoint_denied", detail=f"action={action}"))
            return _ENDPOINT
        # What the router's fallbacks and GET /v1/models may offer this caller: the models of
        # the grants that allow this action (listing models: the grants that use models).
        using = [g for g in grants if _uses_models(g)] if action == "models:list" else permitted
        exchange.attach(MODEL_ACCESS, ModelAccess(tuple(g.matcher for g in using)))
        if exchange.request is None:
            return None
        model = exchange.request.model
        if not any(g.matcher.match(model) for g in permitted):
            exchange.add_finding(
                Finding(self.name, "model_denied", detail=f"action={action} model={model[:128]}")
            )
            return _MODEL
        return None


def _with_grants(identity: Identity, grants: tuple[Grant, ...]) -> Identity:
    from dataclasses import replace

    return replace(identity, grants=grants)
