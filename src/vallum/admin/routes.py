"""The admin route table: one ``Route`` per endpoint; add a route by appending to ``ROUTES``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vallum.admin.config import AdminCredential
from vallum.admin.team_scope import check_grantable
from vallum.errors import BadRequest, Forbidden, NotFound
from vallum.identity.records import KeyRecord, KeySpec, Name, RoleRecord, TeamRecord

if TYPE_CHECKING:
    from vallum.gateway import Gateway
    from vallum.identity.service import IdentityService

__all__ = ["ROUTES", "AdminRequest", "NoQuery", "Reply", "Route", "key_view"]


class NoQuery(BaseModel):
    """The query of a route that takes no query parameters: any parameter is a 400."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(slots=True)
class AdminRequest:
    gateway: Gateway
    actor: AdminCredential | None  # None only on routes with auth=False
    params: dict[str, str]
    query: Any  # the route's query model, validated (NoQuery when it takes none)
    body: bytes
    body_required: bool = True  # the route's: an absent body is a 400

    @property
    def identity(self) -> IdentityService:
        if self.gateway.identity is None:
            raise NotFound("The identity store is not running.", code="identity_disabled")
        return self.gateway.identity

    @property
    def who(self) -> str:
        return f"admin:{self.actor.name}" if self.actor else "admin:anonymous"

    def parse(self, model: type[Any]) -> Any:
        """The body as ``model``, strictly typed (``true`` is not a number, ``"5"`` is not
        an integer); an absent body is ``{}`` unless the route requires one."""
        if not self.body.strip() and self.body_required:
            raise BadRequest("This request needs a JSON body.", code="missing_body")
        try:
            return model.model_validate_json(self.body or b"{}", strict=True)
        except ValidationError as exc:
            raise BadRequest(f"Invalid body at {_where(exc)}", code="invalid_body") from exc

    def require_super(self) -> None:
        if self.actor is not None and self.actor.team is not None:
            raise Forbidden("Only an unrestricted admin may do this.", code="admin_scope")

    def check_team(self, team: str | None) -> None:
        if self.actor is not None and self.actor.team is not None and team != self.actor.team:
            raise NotFound("No such key.", code="key_not_found")  # no oracle across teams


def _where(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"'{where}': {first.get('msg', '')}"


def parse_query(model: type[BaseModel], pairs: list[tuple[str, str]]) -> BaseModel:
    """Query parameters as ``model``: unknown, repeated or ill-typed ones are a 400."""
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise BadRequest("A query parameter is repeated.", code="invalid_query")
    try:
        return model.model_validate(dict(pairs))
    except ValidationError as exc:
        raise BadRequest(f"Invalid query parameter {_where(exc)}", code="invalid_query") from exc


Reply = tuple[int, Any]
Handler = Callable[[AdminRequest], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # "/v1/keys/{id}": segments in braces are parameters
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    auth: bool = True
    responses: dict[int, str] = field(default_factory=lambda: {200: "OK"})
    query: type[BaseModel] = NoQuery
    body_required: bool = True  # a body model whose every field has a default may be omitted


class KeysQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    team: Name | None = Field(None, description="Only this team's keys (a team admin: its own).")


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    after: int = Field(0, ge=0, le=2**62, description="Entries after this sequence number.")


class RotateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    grace_seconds: float = Field(
        3600.0, ge=0, le=30 * 86400, description="How long the old secret keeps working."
    )


def key_view(record: KeyRecord, now: float) -> dict[str, Any]:
    """A key for display: everything but the secret hashes."""
    view = record.model_dump(mode="json", exclude={"secrets"})
    view["state"] = record.state(now)
    view["live_secrets"] = sum(
        1 for s in record.secrets if s.not_after is None or s.not_after > now
    )
    return view


async def _health(request: AdminRequest) -> Reply:
    # alive either way; "starting" until the gateway has opened its storage
    return 200, {"status": "ok" if request.gateway.started else "starting"}


async def _ready(request: AdminRequest) -> Reply:
    # the proxy's /readyz answer: started, and every readiness probe ready
    if not request.gateway.started:
        return 503, {"status": "starting"}
    waiting = await request.gateway.readiness.waiting()
    if waiting:
        return 503, {"status": "not_ready", "waiting": waiting}
    return 200, {"status": "ok"}


async def _metrics(request: AdminRequest) -> Reply:
    render = getattr(request.gateway, "metrics_render", None)
    if render is None:
        raise NotFound("Metrics are not enabled.", code="metrics_disabled")
    return 200, render()


async def _list_keys(request: AdminRequest) -> Reply:
    team = request.actor.team if request.actor else None
    team = team or request.query.team
    records = await request.identity.store.list_keys(team=team)
    now = request.gateway.clock.now()
    return 200, {"data": [key_view(r, now) for r in records]}


async def _create_key(request: AdminRequest) -> Reply:
    spec: KeySpec = request.parse(KeySpec)
    service = request.identity
    if request.actor is not None and request.actor.team is not None:
        if spec.team not in (None, request.actor.team):
            raise Forbidden("A team admin creates keys for its own team only.", code="admin_scope")
        spec = spec.model_copy(update={"team": request.actor.team})
        await check_grantable(request.gateway, service.store, request.actor.team, spec)
    record, issued = await service.store.create_key(spec, actor=request.who)
    await service.cache.refresh("key", record.public_id)
    view = key_view(record, request.gateway.clock.now())
    return 201, {"id": record.public_id, "key": issued.reveal(), "record": view}


async def _get_key(request: AdminRequest) -> Reply:
    record = await request.identity.store.get_key(request.params["id"])
    if record is None:
        raise NotFound("No such key.", code="key_not_found")
    request.check_team(record.team)
    view = key_view(record, request.gateway.clock.now())
    view["last_used_at"] = await request.identity.store.last_used(record.public_id)
    return 200, view


async def _rotate_key(request: AdminRequest) -> Reply:
    await _get_key(request)  # existence and team check
    body: RotateBody = request.parse(RotateBody)
    service = request.identity
    record, issued = await service.store.rotate_key(
        request.params["id"], grace=body.grace_seconds, actor=request.who
    )
    await service.cache.refresh("key", record.public_id)
    view = key_view(record, request.gateway.clock.now())
    return 200, {"id": record.public_id, "key": issued.reveal(), "record": view}


async def _revoke_key(request: AdminRequest) -> Reply:
    await _get_key(request)
    service = request.identity
    record = await service.store.revoke_key(request.params["id"], actor=request.who)
    await service.cache.refresh("key", record.public_id)
    return 200, key_view(record, request.gateway.clock.now())


async def _list_teams(request: AdminRequest) -> Reply:
    teams = await request.identity.store.list_teams()
    if request.actor is not None and request.actor.team is not None:
        teams = [t for t in teams if t.name == request.actor.team]
    return 200, {"data": [t.model_dump(mode="json") for t in teams]}


async def _put_team(request: AdminRequest) -> Reply:
    request.require_super()
    team = await request.identity.store.put_team(request.parse(TeamRecord), actor=request.who)
    await request.identity.cache.refresh("team", team.name)
    return 200, team.model_dump(mode="json")


async def _delete(kind: str, request: AdminRequest) -> Reply:
    request.require_super()
    store, name = request.identity.store, request.params["name"]
    deleted = await (store.delete_team if kind == "team" else store.delete_role)(
        name, actor=request.who
    )
    if not deleted:
        raise NotFound(f"No such {kind}.", code=f"{kind}_not_found")
    await request.identity.cache.refresh(kind, name)
    return 200, {"deleted": name}


async def _delete_team(request: AdminRequest) -> Reply:
    return await _delete("team", request)


async def _list_roles(request: AdminRequest) -> Reply:
    roles = await request.identity.store.list_roles()
    return 200, {"data": [r.model_dump(mode="json") for r in roles]}


async def _put_role(request: AdminRequest) -> Reply:
    request.require_super()
    role = await request.identity.store.put_role(request.parse(RoleRecord), actor=request.who)
    await request.identity.cache.refresh("role", role.name)
    return 200, role.model_dump(mode="json")


async def _delete_role(request: AdminRequest) -> Reply:
    return await _delete("role", request)


async def _audit(request: AdminRequest) -> Reply:
    request.require_super()
    after = request.query.after
    return 200, {"data": await request.identity.store.audit_trail(after=after, limit=500)}


async def _instances(request: AdminRequest) -> Reply:
    request.require_super()
    registry = request.gateway.instances
    found = [] if registry is None else await registry.instances()
    rows = [asdict(i) for i in sorted(found, key=lambda i: (i.started, i.id))]
    return 200, {"data": rows, "self": None if registry is None else registry.me.id}


async def _openapi(request: AdminRequest) -> Reply:
    from vallum.admin.app import ALL_ROUTES
    from vallum.admin.openapi import openapi_document

    return 200, openapi_document(ALL_ROUTES)


ROUTES: list[Route] = [
    Route("GET", "/healthz", _health, "Liveness of the admin listener.", auth=False),
    Route(
        "GET",
        "/readyz",
        _ready,
        "Readiness: started, storage and feeds answering (503 otherwise).",
        auth=False,
        responses={200: "OK", 503: "Not ready"},
    ),
    Route("GET", "/openapi.json", _openapi, "This API's OpenAPI 3.1 document.", auth=False),
    Route("GET", "/metrics", _metrics, "Prometheus metrics (if enabled).", auth=False),
    Route(
        "GET",
        "/v1/keys",
        _list_keys,
        "List API keys (a team admin sees its team's).",
        query=KeysQuery,
    ),
    Route(
        "POST",
        "/v1/keys",
        _create_key,
        "Create a key; the full key is in this reply only.",
        body=KeySpec,
        responses={201: "Created"},
    ),
    Route("GET", "/v1/keys/{id}", _get_key, "Show one key (never its secret)."),
    Route(
        "POST",
        "/v1/keys/{id}/rotate",
        _rotate_key,
        "New secret; old one works for the grace.",
        body=RotateBody,
        body_required=False,
    ),
    Route("POST", "/v1/keys/{id}/revoke", _revoke_key, "Revoke a key, on every instance."),
    Route("GET", "/v1/teams", _list_teams, "List teams."),
    Route("POST", "/v1/teams", _put_team, "Create or replace a team.", body=TeamRecord),
    Route("DELETE", "/v1/teams/{name}", _delete_team, "Delete a team."),
    Route("GET", "/v1/roles", _list_roles, "List roles (built-in and stored)."),
    Route("POST", "/v1/roles", _put_role, "Create or replace a role.", body=RoleRecord),
    Route("DELETE", "/v1/roles/{name}", _delete_role, "Delete a role."),
    Route("GET", "/v1/audit", _audit, "Admin changes: who did what, when.", query=AuditQuery),
    Route("GET", "/v1/instances", _instances, "Gateway instances alive on the shared backend."),
]


def dumps(value: Any) -> bytes:
    return value if isinstance(value, bytes) else orjson.dumps(value)
