"""Admin routes for anomaly incidents and enforcement (blocks, suspensions, throttles)."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vallum.admin.routes import AdminRequest, Reply, Route
from vallum.anomaly.actions import reverse_actions
from vallum.anomaly.incidents import IncidentStore
from vallum.anomaly.state import Enforcement, EnforcementConflict, announcing, parse_cidr
from vallum.errors import BadRequest

__all__ = ["ANOMALY_ROUTES", "BlockBody", "BlockQuery", "IncidentsQuery", "ResolveBody"]


class IncidentsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    status: Literal["open", "resolved"] | None = Field(None, description="Only these.")
    limit: int = Field(50, ge=1, le=500, description="Most incidents to return.")


class BlockQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cidr: str = Field(max_length=64, description="The IP address or CIDR range to unblock.")


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    note: str = Field("", max_length=512, description="Why the incident is closed.")


class BlockBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cidr: str = Field(max_length=64, description="An IP address or CIDR range to block.")
    ttl: float | None = Field(
        None,
        gt=0,
        le=365 * 86400,
        description="Seconds until the block lapses (none: until removed).",
    )


def _cidr(value: str) -> str:
    try:
        return str(parse_cidr(value))
    except EnforcementConflict as exc:
        raise BadRequest("Not an IP address or CIDR range.", code="invalid_cidr") from exc


async def _list_incidents(request: AdminRequest) -> Reply:
    request.require_super()
    query: IncidentsQuery = request.query
    found = await IncidentStore(request.gateway.storage).recent(
        status=query.status, limit=query.limit
    )
    return 200, {"data": [i.model_dump(mode="json") for i in found]}


def _enforcement(request: AdminRequest) -> Enforcement:
    """Changes announced where every replica listens (as the anomaly layer's are)."""
    gateway = request.gateway
    return announcing(gateway.storage, gateway.counters, gateway.clock)


async def _get_incident(request: AdminRequest) -> Reply:
    request.require_super()
    incident = await IncidentStore(request.gateway.storage).get(request.params["id"])
    return 200, incident.model_dump(mode="json")


async def _resolve_incident(request: AdminRequest) -> Reply:
    request.require_super()
    body: ResolveBody = request.parse(ResolveBody)
    storage = request.gateway.storage
    store = IncidentStore(storage)
    incident = await store.get(request.params["id"])
    await reverse_actions(incident, _enforcement(request), store, actor=request.who)
    incident.status, incident.resolved_at = "resolved", request.gateway.clock.now()
    incident.resolved_by, incident.note = request.who, body.note
    await store.save(incident)
    return 200, incident.model_dump(mode="json")


async def _list_blocks(request: AdminRequest) -> Reply:
    request.require_super()
    document = await Enforcement(request.gateway.storage, request.gateway.clock).document()
    rows: list[dict[str, Any]] = [
        {"kind": kind, "target": target, **value}
        for kind, items in document.items()
        for target, value in items.items()
    ]
    return 200, {"data": rows}


async def _add_block(request: AdminRequest) -> Reply:
    request.require_super()
    body: BlockBody = request.parse(BlockBody)
    cidr = _cidr(body.cidr)
    now = request.gateway.clock.now()
    until = now + body.ttl if body.ttl else None
    storage = request.gateway.storage
    await _enforcement(request).change("blocks", cidr, {"until": until, "by": request.who})
    await IncidentStore(storage).audit(
        {"at": now, "actor": request.who, "action": "anomaly.block", "target": cidr}
    )
    return 201, {"target": cidr, "until": until}


async def _remove_block(request: AdminRequest) -> Reply:
    request.require_super()
    cidr = _cidr(request.query.cidr)
    storage = request.gateway.storage
    await _enforcement(request).change("blocks", cidr, None)
    await IncidentStore(storage).audit(
        {"at": time.time(), "actor": request.who, "action": "anomaly.unblock", "target": cidr}
    )
    return 200, {"target": cidr, "removed": True}


ANOMALY_ROUTES: list[Route] = [
    Route(
        "GET",
        "/v1/incidents",
        _list_incidents,
        "Anomaly incidents, newest first.",
        query=IncidentsQuery,
    ),
    Route("GET", "/v1/incidents/{id}", _get_incident, "One incident with evidence and actions."),
    Route(
        "POST",
        "/v1/incidents/{id}/resolve",
        _resolve_incident,
        "Close an incident and reverse its reversible actions.",
        body=ResolveBody,
        body_required=False,
    ),
    Route("GET", "/v1/blocks", _list_blocks, "Blocked ranges, suspended and throttled keys."),
    Route(
        "POST",
        "/v1/blocks",
        _add_block,
        "Block an IP or range.",
        body=BlockBody,
        responses={201: "Created"},
    ),
    Route("DELETE", "/v1/blocks", _remove_block, "Lift a block (?cidr=…).", query=BlockQuery),
]
