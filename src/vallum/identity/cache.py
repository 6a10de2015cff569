"""The hot-path replica of the identity store: lookups never wait on the database.

At start the cache loads every key, team and role. Changes arrive on pub/sub (fast path,
typically milliseconds) and are re-read from the store; a periodic reconcile reads the
durable change log from the last sequence seen, so a lost message or a process without
shared pub/sub (SQLite, the CLI in another process) still converges within one interval.
``last_used_at`` stamps are collected in memory and written in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TypeVar

import orjson

from vallum.errors import StorageError
from vallum.identity.records import KeyRecord, RoleRecord, TeamRecord, builtin_roles
from vallum.identity.store import CHANGES_CHANNEL, Change, IdentityStore
from vallum.storage import PubSub

__all__ = ["IdentityCache"]

log = logging.getLogger("vallum.identity")
T = TypeVar("T")


class IdentityCache:
    """Keys, teams and roles in memory, kept current by pub/sub and reconcile."""

    def __init__(
        self,
        store: IdentityStore,
        *,
        pubsub: PubSub | None = None,
        reconcile_interval: float = 1.0,
        last_used_interval: float = 30.0,
    ) -> None:
        self.store = store
        self._pubsub = pubsub
        self._reconcile_interval = reconcile_interval
        self._last_used_interval = last_used_interval
        self.keys: dict[str, KeyRecord] = {}
        self.teams: dict[str, TeamRecord] = {}
        self.roles: dict[str, RoleRecord] = dict(builtin_roles())
        self.generation = 0  # bumped on every change; lets callers memoise derived data
        self._seq = 0
        self._used: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self.listening = pubsub is None  # the change feed is subscribed (readiness)

    # ---- lookups (hot path, synchronous) ----------------------------------------------
    def key(self, public_id: str) -> KeyRecord | None:
        return self.keys.get(public_id)

    def team(self, name: str) -> TeamRecord | None:
        return self.teams.get(name)

    def role(self, name: str) -> RoleRecord | None:
        return self.roles.get(name)

    def touch(self, public_id: str, at: float) -> None:
        """Note a successful use; written to the store in the next batch."""
        self._used[public_id] = at

    # ---- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        self._seq = await self.store.last_change()  # before loading: no change can slip by
        await self._load_all()
        self._tasks = [asyncio.create_task(self._reconcile_loop())]
        self._tasks.append(asyncio.create_task(self._last_used_loop()))
        if self._pubsub is not None:
            ready = asyncio.get_running_loop().create_future()
            self._tasks.append(asyncio.create_task(self._listen(self._pubsub, ready)))
            # a moment for the feed (a change right after start is then seen at once), but
            # never more: with Redis down the gateway starts, not ready, and recovers by itself
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ready), timeout=2.0)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, StorageError):
                await task
        self._tasks = []
        await self.flush_last_used()

    async def flush_last_used(self) -> None:
        stamps, self._used = self._used, {}
        if stamps:
            try:
                await self.store.write_last_used(stamps)
            except StorageError:
                log.warning("last_used_at not written", extra={"keys": len(stamps)})

    # ---- refresh ----------------------------------------------------------------------
    async def refresh(self, kind: str, ident: str) -> None:
        """Re-read one record from the store (after a change event)."""
        if kind == "key":
            await self._refresh_key(ident)
        elif kind == "team":
            team = await self.store.get_team(ident)
            _put(self.teams, ident, team)
        elif kind == "role":
            role = await self.store.get_role(ident)
            _put(self.roles, ident, role)
        self.generation += 1

    async def _refresh_key(self, public_id: str) -> None:
        record = await self.store.get_key(public_id)
        _put(self.keys, public_id, record)

    async def reconcile(self) -> int:
        """Apply every change logged since the last one seen; returns how many."""
        async with self._lock:
            changes, self._seq = await self.store.changes_since(self._seq)
            for kind, ident in _unique(changes):
                await self.refresh(kind, ident)
            return len(changes)

    async def _load_all(self) -> None:
        self.keys = {k.public_id: k for k in await self.store.list_keys()}
        self.teams = {t.name: t for t in await self.store.list_teams()}
        self.roles = {r.name: r for r in await self.store.list_roles()}
        self.generation += 1

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self._reconcile_interval)
            try:
                await self.reconcile()
            except StorageError:
                log.warning("identity reconcile failed; serving the cached copy")

    async def _last_used_loop(self) -> None:
        while True:
            await asyncio.sleep(self._last_used_interval)
            await self.flush_last_used()

    async def _listen(self, pubsub: PubSub, ready: asyncio.Future[None]) -> None:
        while True:
            try:
                subscription = await pubsub.subscribe(CHANGES_CHANNEL)
                if not ready.done():
                    ready.set_result(None)
                async with subscription:
                    self.listening = True
                    await self.reconcile()  # catch up on anything sent while unsubscribed
                    async for message in subscription:
                        await self._on_message(message)
            except StorageError:
                pass
            self.listening = False
            log.warning("identity change feed lost; resubscribing")
            await asyncio.sleep(self._reconcile_interval)

    async def _on_message(self, message: bytes) -> None:
        try:
            data = orjson.loads(message)
            kind, ident = str(data["kind"]), str(data["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        try:
            await self.refresh(kind, ident)
        except StorageError:
            log.warning("identity refresh failed; the reconcile will retry")


def _put(target: dict[str, T], ident: str, record: T | None) -> None:
    if record is None:
        target.pop(ident, None)
    else:
        target[ident] = record


def _unique(changes: list[Change]) -> list[Change]:
    return list(dict.fromkeys(changes))
