"""Incident records in the durable storage: one per detector and subject while open."""

from __future__ import annotations

import secrets
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from vallum.errors import NotFound
from vallum.storage import Storage

__all__ = ["AUDIT_STREAM", "ActionRecord", "Incident", "IncidentStore"]

INDEX_STREAM = "anomaly.incidents"
AUDIT_STREAM = "anomaly.audit"
_PREFIX = "anomaly:incident:"


class ActionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["alert", "throttle", "suspend", "revoke", "block", "lockout"] = Field(
        description="What was done."
    )
    target: str = Field(max_length=128, description="Key id, CIDR, or alert channel.")
    at: float = Field(description="When (epoch seconds).")
    until: float | None = Field(None, description="When it lapses (None: until reversed).")
    status: Literal["done", "dry_run", "allow_listed", "failed", "reversed", "irreversible"] = (
        Field("done", description="Outcome of the action.")
    )
    detail: str = Field("", max_length=256, description="Why, or what failed.")


class Incident(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=32, description="Incident id.")
    opened_at: float = Field(description="First signal.")
    updated_at: float = Field(description="Last signal or action.")
    detector: str = Field(max_length=32, description="Detector that raised it.")
    severity: str = Field(max_length=16, description="Highest severity seen.")
    subject: str = Field(max_length=160, description="key:<id>, ip:<addr> or range:<cidr>.")
    key_id: str | None = Field(None, max_length=64, description="Key concerned, if any.")
    team: str | None = Field(None, max_length=64, description="Team of the key.")
    ranges: list[str] = Field(default_factory=list, max_length=16, description="Ranges seen.")
    evidence: dict[str, Any] = Field(default_factory=dict, description="Counts and scores.")
    samples: list[str] = Field(default_factory=list, max_length=10, description="Request ids.")
    signals: int = Field(1, ge=1, description="Signals folded into this incident.")
    actions: list[ActionRecord] = Field(default_factory=list, max_length=64, description="Done.")
    status: Literal["open", "resolved"] = Field("open", description="open or resolved.")
    resolved_at: float | None = Field(None, description="When resolved.")
    resolved_by: str | None = Field(None, max_length=128, description="Who resolved it.")
    note: str = Field("", max_length=512, description="Resolution note.")


class IncidentStore:
    """CRUD over ``storage.kv`` with an append-only index and an audit stream of actions."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @staticmethod
    def new_id() -> str:
        return "inc_" + secrets.token_hex(6)

    async def save(self, incident: Incident, *, new: bool = False) -> None:
        await self.storage.kv.set(_PREFIX + incident.id, incident.model_dump_json().encode())
        if new:
            await self.storage.log.append(INDEX_STREAM, incident.id.encode())

    async def get(self, incident_id: str) -> Incident:
        raw = await self.storage.kv.get(_PREFIX + incident_id[:32])
        if raw is None:
            raise NotFound("No such incident.", code="incident_not_found")
        return Incident.model_validate_json(raw)

    async def recent(self, *, status: str | None = None, limit: int = 100) -> list[Incident]:
        """Most recent first."""
        last = await self.storage.log.last_seq(INDEX_STREAM)
        after = max(last - max(limit, 1) * 4, 0)
        entries = await self.storage.log.read(INDEX_STREAM, after=after, limit=limit * 4)
        found: list[Incident] = []
        for entry in reversed(entries):
            raw = await self.storage.kv.get(_PREFIX + entry.record.decode())
            if raw is None:
                continue
            incident = Incident.model_validate_json(raw)
            if status is None or incident.status == status:
                found.append(incident)
            if len(found) >= limit:
                break
        return found

    async def audit(self, record: dict[str, Any]) -> None:
        await self.storage.log.append(AUDIT_STREAM, orjson.dumps(record))

    async def audit_trail(self, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        entries = await self.storage.log.read(AUDIT_STREAM, after=after, limit=limit)
        return [{"seq": e.seq, **orjson.loads(e.record)} for e in entries]
