"""Graduated responses: alert → throttle → suspend → revoke → block, per detector and severity.

Every action is recorded on its incident and in the ``anomaly.audit`` stream; ``dry_run``
records what would have been done and only alerts; allow-listed keys and ranges are exempt.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vallum.anomaly.alerts import Alerter
from vallum.anomaly.incidents import ActionRecord, Incident, IncidentStore
from vallum.anomaly.signals import Severity, Signal
from vallum.anomaly.state import Enforcement
from vallum.clock import Clock
from vallum.errors import VallumError

__all__ = ["DEFAULT_RESPONSES", "NEVER_BLOCK", "ActionSettings", "KeyRevoker", "Responder"]

log = logging.getLogger("vallum.anomaly")

ActionKind = Literal["alert", "throttle", "suspend", "revoke", "block", "lockout"]
SeverityName = Literal["low", "medium", "high", "critical"]
DetectorName = Literal[
    "spike", "cost", "extraction", "credential_abuse", "auth_failures", "persistence"
]
_ORDER = ("alert", "throttle", "suspend", "revoke", "block", "lockout")

DEFAULT_RESPONSES: dict[DetectorName, dict[SeverityName, tuple[ActionKind, ...]]] = {
    "spike": {"low": (), "medium": ("alert",), "high": ("alert", "throttle")},
    "cost": {"low": (), "medium": ("alert",), "high": ("alert", "throttle")},
    "extraction": {"high": ("alert", "suspend"), "critical": ("alert", "revoke", "block")},
    "credential_abuse": {  # one key: used from unrelated networks, or revoked and tried
        "medium": ("alert",),
        "high": ("alert", "suspend", "block"),
        "critical": ("alert", "block"),
    },
    # failed logins from an address or range: only attempts without a known key are refused
    # there (a lockout); a block would take every valid key behind a NAT or proxy with it
    "auth_failures": {"high": ("alert", "lockout"), "critical": ("alert", "lockout")},
    "persistence": {"medium": ("alert", "throttle"), "high": ("alert", "suspend", "block")},
}


_RANGE_ACTIONS = frozenset({"block", "lockout"})
# Loopback is the operator's own machine (and the demo's only client): never blocked.
NEVER_BLOCK = ("127.0.0.0/8", "::1/128")


class KeyRevoker(Protocol):
    """What the identity store offers (``IdentityStore.revoke_key``) and its cache refresh."""

    async def revoke(self, key_id: str, *, actor: str) -> None: ...


class ActionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool = Field(False, description="Alert and record what would be done; act on nothing.")
    responses: dict[DetectorName, dict[SeverityName, tuple[ActionKind, ...]]] = Field(
        default_factory=lambda: {d: dict(s) for d, s in DEFAULT_RESPONSES.items()},
        description="Actions per detector and severity (a missing entry: nothing).",
    )
    allow_keys: tuple[str, ...] = Field(
        (), max_length=10_000, description="Key public ids never acted upon (incidents recorded)."
    )
    allow_cidrs: tuple[str, ...] = Field(
        (), max_length=10_000, description="Client ranges never blocked or acted upon."
    )
    block_ttl: float = Field(3600.0, gt=0, le=30 * 86400, description="Seconds a block lasts.")
    suspend_ttl: float = Field(
        86400.0, gt=0, le=365 * 86400, description="Seconds a suspension lasts unless resolved."
    )
    throttle_rpm: int = Field(10, ge=1, le=10**6, description="Requests/min of a throttled key.")
    throttle_ttl: float = Field(900.0, gt=0, le=30 * 86400, description="Seconds of throttling.")
    max_block_ranges: int = Field(
        4, ge=1, le=16, description="Ranges one incident may block (its most recent)."
    )

    @field_validator("allow_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_network(v, strict=False)) for v in value)


class Responder:
    """Turns signals into incidents and the configured actions."""

    def __init__(
        self,
        settings: ActionSettings,
        *,
        enforcement: Enforcement,
        incidents: IncidentStore,
        alerter: Alerter,
        revoker: KeyRevoker | None,
        clock: Clock,
        actor: str = "anomaly",
        never_block: Sequence[str] = NEVER_BLOCK,
    ) -> None:
        self.settings = settings
        self.enforcement = enforcement
        self.incidents = incidents
        self.alerter = alerter
        self.revoker = revoker
        self.clock = clock
        self.actor = actor
        self._allowed = [ipaddress.ip_network(c) for c in (*settings.allow_cidrs, *never_block)]
        self._open: dict[tuple[str, str], str] = {}  # (detector, subject) -> incident id

    async def handle(self, signal: Signal) -> Incident:
        incident, new = await self._incident(signal)
        wanted = self.settings.responses.get(signal.detector, {})  # type: ignore[call-overload]
        kinds = wanted.get(signal.severity.label, ())
        done = {(a.kind, a.target) for a in incident.actions if a.status == "done"}
        taken: list[str] = []
        for kind in sorted(kinds, key=_ORDER.index):
            if kind == "alert":
                continue
            for target in self._targets(kind, signal):
                if (kind, target) in done:
                    continue
                record = await self._act(kind, target, incident, self._exempt_key(signal.key_id))
                incident.actions.append(record)
                if record.status in ("done", "dry_run"):
                    taken.append(
                        f"{kind}:{target}" + (" (dry run)" if record.status == "dry_run" else "")
                    )
        if "alert" in kinds and not self._exempt_key(signal.key_id):
            self.alerter.alert(incident, taken)
            incident.actions.append(
                ActionRecord(
                    kind="alert", target="alert", at=self.clock.now(), detail=signal.severity.label
                )
            )
        await self.incidents.save(incident, new=new)
        return incident

    async def _incident(self, signal: Signal) -> tuple[Incident, bool]:
        mark = (signal.detector, signal.subject)
        known = self._open.get(mark)
        if known is not None:
            try:
                incident = await self.incidents.get(known)
            except VallumError:
                incident = None
            if incident is not None and incident.status == "open":
                incident.updated_at = signal.at
                incident.signals += 1
                incident.evidence = dict(signal.evidence)
                if signal.severity > Severity[incident.severity.upper()]:
                    incident.severity = signal.severity.label
                incident.ranges = sorted({*incident.ranges, *signal.ranges})[:16]
                incident.samples = [*incident.samples, *signal.samples][-10:]
                return incident, False
        incident = Incident(
            id=IncidentStore.new_id(),
            opened_at=signal.at,
            updated_at=signal.at,
            detector=signal.detector,
            severity=signal.severity.label,
            subject=signal.subject[:160],
            key_id=signal.key_id,
            team=signal.team,
            ranges=list(signal.ranges)[:16],
            evidence=dict(signal.evidence),
            samples=list(signal.samples)[:10],
        )
        self._open[mark] = incident.id
        if len(self._open) > 100_000:
            self._open.pop(next(iter(self._open)))
        return incident, True

    def _targets(self, kind: str, signal: Signal) -> list[str]:
        if kind in ("throttle", "suspend", "revoke"):
            return [signal.key_id] if signal.key_id else []
        return list(signal.ranges)[-self.settings.max_block_ranges :]  # block and lockout

    def _exempt_key(self, key_id: str | None) -> bool:
        return key_id is not None and key_id in self.settings.allow_keys

    def _exempt_range(self, cidr: str) -> bool:
        """Allow-listed, loopback and trusted-proxy ranges: never blocked, even in part."""
        network = ipaddress.ip_network(cidr, strict=False)
        return any(
            network.version == allowed.version and network.overlaps(allowed)
            for allowed in self._allowed
        )

    async def _act(
        self, kind: str, target: str, incident: Incident, key_exempt: bool
    ) -> ActionRecord:
        now = self.clock.now()
        s = self.settings
        ttl = {
            "throttle": s.throttle_ttl,
            "suspend": s.suspend_ttl,
            "block": s.block_ttl,
            "lockout": s.block_ttl,
        }.get(kind)
        record = ActionRecord(
            kind=kind,
            target=target,
            at=now,
            until=None if ttl is None else now + ttl,
        )
        exempt = key_exempt or (
            self._exempt_range(target) if kind in _RANGE_ACTIONS else self._exempt_key(target)
        )
        if exempt:
            record.status = "allow_listed"
        elif s.dry_run:
            record.status = "dry_run"
        else:
            record.status, record.detail = await self._execute(kind, target, incident, record.until)
        await self._audit(kind, target, incident.id, record.status, record.until)
        return record

    async def _execute(
        self, kind: str, target: str, incident: Incident, until: float | None
    ) -> tuple[Any, str]:
        entry = {"until": until, "incident": incident.id, "by": self.actor}
        try:
            if kind == "block":
                await self.enforcement.change("blocks", target, entry)
            elif kind == "lockout":
                await self.enforcement.change("lockouts", target, entry)
            elif kind == "suspend":
                await self.enforcement.change("suspended", target, entry)
            elif kind == "throttle":
                await self.enforcement.change(
                    "throttled", target, {**entry, "rpm": self.settings.throttle_rpm}
                )
            elif self.revoker is None:
                return "failed", "no identity store"
            else:
                await self.revoker.revoke(target, actor=self.actor)
        except VallumError as error:
            log.warning("anomaly action failed", extra={"action": kind, "incident": incident.id})
            return "failed", error.public_message[:256]
        return "done", ""

    async def _audit(
        self, kind: str, target: str, incident: str, status: str, until: float | None
    ) -> None:
        record = {
            "at": self.clock.now(),
            "actor": self.actor,
            "action": f"anomaly.{kind}",
            "target": target,
            "incident": incident,
            "status": status,
            "until": until,
        }
        log.warning("anomaly action", extra=record)
        await self.incidents.audit(record)

    async def resolve(self, incident_id: str, *, actor: str, note: str = "") -> Incident:
        """Close an incident and reverse what it did (a revocation cannot be undone)."""
        incident = await self.incidents.get(incident_id)
        await reverse_actions(incident, self.enforcement, self.incidents, actor=actor)
        incident.status = "resolved"
        incident.resolved_at = self.clock.now()
        incident.resolved_by = actor[:128]
        incident.note = note[:512]
        await self.incidents.save(incident)
        self._open.pop((incident.detector, incident.subject), None)
        return incident


async def reverse_actions(
    incident: Incident, enforcement: Enforcement, incidents: IncidentStore, *, actor: str
) -> None:
    kinds = {
        "block": "blocks",
        "lockout": "lockouts",
        "suspend": "suspended",
        "throttle": "throttled",
    }
    for record in incident.actions:
        if record.status != "done" or record.kind == "alert":
            continue
        if record.kind == "revoke":
            record.status = "irreversible"
            record.detail = "revoked keys stay revoked: issue a new key (vallum keys create)"
            continue
        await enforcement.change(kinds[record.kind], record.target, None)
        record.status = "reversed"
        await incidents.audit(
            {
                "at": enforcement.clock.now(),
                "actor": actor,
                "action": f"anomaly.un{record.kind}",
                "target": record.target,
                "incident": incident.id,
                "status": "done",
            }
        )
