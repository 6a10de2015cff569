"""The identity store: key, team and role records on the storage backend's key-value ability.

Records are JSON under ``idn:<kind>:<id>``, one key each; a listing is one prefix scan of
``idn:<kind>:`` (no shared index document: concurrent writers on several instances cannot
contend for, or lose, an entry; start-up loads every key in one query). Every change is
appended to the ``idn:changes`` log (the durable trail the caches reconcile
from) and announced on pub/sub (the fast path). Admin changes are audited to ``idn:audit``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from vallum.clock import Clock
from vallum.errors import BadRequest, NotFound, StorageError, VallumError
from vallum.identity.keys import IssuedKey, KeyHasher, new_public_id, new_secret
from vallum.identity.records import (
    KeyRecord,
    KeySpec,
    RoleRecord,
    SecretHash,
    TeamRecord,
    builtin_roles,
)
from vallum.storage import PubSub, Storage

__all__ = ["AUDIT_STREAM", "CHANGES_CHANNEL", "CHANGES_STREAM", "Change", "IdentityStore"]

log = logging.getLogger("vallum.identity")

CHANGES_STREAM = "idn:changes"
CHANGES_CHANNEL = "idn:changes"
AUDIT_STREAM = "idn:audit"
_CAS_TRIES = 50
R = TypeVar("R", bound=BaseModel)
Change = tuple[str, str]  # (kind, id): "key" | "team" | "role"


class Conflict(VallumError):
    status = 409
    default_code = "conflict"
    error_type = "invalid_request_error"


class IdentityStore:
    """CRUD on identity records, with change fan-out and an audit trail."""

    def __init__(
        self,
        storage: Storage,
        hasher: KeyHasher,
        clock: Clock,
        notify: Sequence[PubSub] = (),
    ) -> None:
        self.storage = storage
        self.hasher = hasher
        self.clock = clock
        self._notify = list(notify) or [storage.pubsub]

    # ---- keys -------------------------------------------------------------------------
    async def create_key(self, spec: KeySpec, *, actor: str) -> tuple[KeyRecord, IssuedKey]:
        await self._check_references(spec.team, spec.roles)
        public_id, secret = new_public_id(), new_secret()
        record = KeyRecord(
            **spec.model_dump(),
            public_id=public_id,
            created_at=self.clock.now(),
            created_by=actor,
            secrets=(SecretHash(hash=self.hasher.digest(public_id, secret)),),
        )
        if not await self.storage.kv.compare_and_set(_k("key", public_id), None, _dump(record)):
            raise Conflict("A key with this id exists; try again.")
        await self._changed("key", public_id, actor, "key.create")
        return record, IssuedKey(public_id, secret)

    async def get_key(self, public_id: str) -> KeyRecord | None:
        return await self._get("key", public_id, KeyRecord)

    async def list_keys(self, *, team: str | None = None) -> list[KeyRecord]:
        records = await self._list("key", KeyRecord)
        return [r for r in records if team is None or r.team == team]

    async def rotate_key(
        self, public_id: str, *, grace: float, actor: str
    ) -> tuple[KeyRecord, IssuedKey]:
        """New secret; the old ones keep working ``grace`` seconds more (0: stop now)."""
        secret = new_secret()
        now = self.clock.now()

        def rotate(record: KeyRecord) -> KeyRecord:
            if record.revoked_at is not None:
                raise BadRequest("A revoked key cannot be rotated.", code="key_revoked")
            kept = [
                SecretHash(hash=s.hash, not_after=min(s.not_after or now + grace, now + grace))
                for s in record.secrets
                if s.not_after is None or s.not_after > now
            ]
            fresh = SecretHash(hash=self.hasher.digest(public_id, secret))
            return record.model_copy(update={"secrets": (fresh, *kept[-3:])})

        record = await self._update("key", public_id, KeyRecord, rotate)
        await self._changed("key", public_id, actor, "key.rotate")
        return record, IssuedKey(public_id, secret)

    async def revoke_key(self, public_id: str, *, actor: str) -> KeyRecord:
        now = self.clock.now()

        def revoke(record: KeyRecord) -> KeyRecord:
            if record.revoked_at is not None:
                return record
            return record.model_copy(update={"revoked_at": now})

        record = await self._update("key", public_id, KeyRecord, revoke)
        await self._changed("key", public_id, actor, "key.revoke")
        return record

    async def last_used(self, public_id: str) -> float | None:
        raw = await self.storage.kv.get(f"idn:lastused:{public_id}")
        return None if raw is None else float(raw)

    async def write_last_used(self, stamps: dict[str, float]) -> None:
        for public_id, at in stamps.items():
            await self.storage.kv.set(f"idn:lastused:{public_id}", repr(at).encode())

    # ---- teams and roles --------------------------------------------------------------
    async def put_team(self, team: TeamRecord, *, actor: str) -> TeamRecord:
        await self._check_references(None, team.roles)
        if team.created_at == 0.0:
            team = team.model_copy(update={"created_at": self.clock.now()})
        await self.storage.kv.set(_k("team", team.name), _dump(team))
        await self._changed("team", team.name, actor, "team.put")
        return team

    async def get_team(self, name: str) -> TeamRecord | None:
        return await self._get("team", name, TeamRecord)

    async def list_teams(self) -> list[TeamRecord]:
        return await self._list("team", TeamRecord)

    async def delete_team(self, name: str, *, actor: str) -> bool:
        return await self._delete("team", name, actor)

    async def put_role(self, role: RoleRecord, *, actor: str) -> RoleRecord:
        if role.name in builtin_roles():
            raise BadRequest(f"'{role.name}' is a built-in role.", code="builtin_role")
        role = role.model_copy(update={"builtin": False})
        await self.storage.kv.set(_k("role", role.name), _dump(role))
        await self._changed("role", role.name, actor, "role.put")
        return role

    async def get_role(self, name: str) -> RoleRecord | None:
        builtin = builtin_roles().get(name)
        return builtin if builtin is not None else await self._get("role", name, RoleRecord)

    async def list_roles(self) -> list[RoleRecord]:
        return [*builtin_roles().values(), *await self._list("role", RoleRecord)]

    async def delete_role(self, name: str, *, actor: str) -> bool:
        if name in builtin_roles():
            raise BadRequest(f"'{name}' is a built-in role.", code="builtin_role")
        return await self._delete("role", name, actor)

    # ---- change trail -----------------------------------------------------------------
    async def changes_since(self, seq: int, *, limit: int = 1000) -> tuple[list[Change], int]:
        entries = await self.storage.log.read(CHANGES_STREAM, after=seq, limit=limit)
        changes: list[Change] = []
        for entry in entries:
            data = orjson.loads(entry.record)
            changes.append((str(data["kind"]), str(data["id"])))
            seq = entry.seq
        return changes, seq

    async def last_change(self) -> int:
        return await self.storage.log.last_seq(CHANGES_STREAM)

    async def audit_trail(self, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        entries = await self.storage.log.read(AUDIT_STREAM, after=after, limit=limit)
        return [{"seq": e.seq, **orjson.loads(e.record)} for e in entries]

    # ---- helpers ----------------------------------------------------------------------
    async def _check_references(self, team: str | None, roles: Sequence[str]) -> None:
        if team is not None and await self.get_team(team) is None:
            raise BadRequest(f"Unknown team '{team}'.", code="unknown_team")
        for role in roles:
            if await self.get_role(role) is None:
                raise BadRequest(f"Unknown role '{role}'.", code="unknown_role")

    async def _get(self, kind: str, ident: str, model: type[R]) -> R | None:
        raw = await self.storage.kv.get(_k(kind, ident))
        if raw is None:
            return None
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise StorageError(
                "a stored identity record is corrupt", context={"kind": kind}
            ) from exc

    async def _list(self, kind: str, model: type[R]) -> list[R]:
        records = []
        for _, raw in await self.storage.kv.scan(_k(kind, "")):
            try:
                records.append(model.model_validate_json(raw))
            except ValidationError as exc:
                raise StorageError(
                    "a stored identity record is corrupt", context={"kind": kind}
                ) from exc
        return records

    async def _update(self, kind: str, ident: str, model: type[R], change: Callable[[R], R]) -> R:
        kv = self.storage.kv
        for _ in range(_CAS_TRIES):
            raw = await kv.get(_k(kind, ident))
            if raw is None:
                raise NotFound(f"No such {kind}.", code=f"{kind}_not_found")
            updated = change(model.model_validate_json(raw))
            if await kv.compare_and_set(_k(kind, ident), raw, _dump(updated)):
                return updated
        raise Conflict(f"The {kind} changed concurrently; try again.")

    async def _delete(self, kind: str, ident: str, actor: str) -> bool:
        existed = await self.storage.kv.delete(_k(kind, ident))
        if existed:
            await self._changed(kind, ident, actor, f"{kind}.delete")
        return existed

    async def _changed(self, kind: str, ident: str, actor: str, action: str) -> None:
        now = self.clock.now()
        await self.storage.log.append(
            AUDIT_STREAM,
            orjson.dumps({"at": now, "actor": actor, "action": action, "target": ident}),
        )
        seq = await self.storage.log.append(
            CHANGES_STREAM, orjson.dumps({"kind": kind, "id": ident})
        )
        message = orjson.dumps({"kind": kind, "id": ident, "seq": seq})
        for pubsub in self._notify:
            try:
                await pubsub.publish(CHANGES_CHANNEL, message)
            except StorageError:
                # the change log is durable; caches reconcile from it
                log.warning("identity change not published", extra={"kind": kind})


def _k(kind: str, ident: str) -> str:
    return f"idn:{kind}:{ident}"


def _dump(record: BaseModel) -> bytes:
    return record.model_dump_json().encode()
