"""Filters for ``vallum audit query`` and the indexed columns every SQL sink stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vallum.audit.chain import AuditEntry

__all__ = ["INDEX_COLUMNS", "AuditFilter", "index_fields", "matches"]

INDEX_COLUMNS = (
    "at",
    "kind",
    "request_id",
    "key_id",
    "principal",
    "team",
    "decision",
    "status",
    "model",
    "route",
    "findings",
)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to select; every field narrows (None: no condition)."""

    since: float | None = None
    until: float | None = None
    key: str | None = None  # the credential's public id
    principal: str | None = None
    team: str | None = None
    decision: str | None = None
    finding: str | None = None  # a finding kind
    request_id: str | None = None
    chain: str | None = None
    include_checkpoints: bool = False
    limit: int = 100
    newest_first: bool = False


def index_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The queryable columns of a record; ``findings`` is ``|kind|kind|`` for LIKE matching."""
    identity = data.get("identity") or {}
    kinds = sorted({str(f.get("kind")) for f in data.get("findings") or ()})
    return {
        "at": float(data.get("at") or 0.0),
        "kind": str(data.get("type", "request")),
        "request_id": data.get("request_id"),
        "key_id": identity.get("credential_id"),
        "principal": identity.get("principal"),
        "team": identity.get("team"),
        "decision": data.get("decision"),
        "status": data.get("status"),
        "model": data.get("model"),
        "route": data.get("route"),
        "findings": "|" + "|".join(kinds) + "|" if kinds else None,
    }


def matches(entry: AuditEntry, where: AuditFilter) -> bool:
    """The same filter, in Python (for the JSON Lines sink)."""
    fields = index_fields(entry.data)
    if fields["kind"] != "request" and not where.include_checkpoints:
        return False
    if where.since is not None and fields["at"] < where.since:
        return False
    if where.until is not None and fields["at"] >= where.until:
        return False
    if where.chain is not None and entry.chain != where.chain:
        return False
    pairs = (
        ("key_id", where.key),
        ("principal", where.principal),
        ("team", where.team),
        ("decision", where.decision),
        ("request_id", where.request_id),
    )
    if any(wanted is not None and fields[name] != wanted for name, wanted in pairs):
        return False
    return where.finding is None or f"|{where.finding}|" in (fields["findings"] or "")
