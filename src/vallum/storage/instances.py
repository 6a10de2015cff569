"""The instance registry: every running gateway, with its start and last heartbeat, in the
shared backend, so replicas know each other (start-up checks, the admin API, metrics).

Each instance writes ``instances:<id>`` every ``heartbeat`` seconds with a time to live of
three heartbeats, so a dead instance drops out of the list by itself; one stopped cleanly
removes its entry at once. An entry of this host whose process is gone (``kill -9``, then
a restart within the TTL) counts as dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from dataclasses import asdict, dataclass

import orjson

from vallum.clock import Clock
from vallum.errors import StorageError
from vallum.storage import Storage

__all__ = ["HEARTBEAT", "InstanceInfo", "InstanceRegistry"]

HEARTBEAT = 5.0  # seconds between heartbeats; an entry lives three of them
_PREFIX = "instances:"
log = logging.getLogger("vallum.instances")


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """One registered instance: its id, name (``server.instance_id``), host, pid, times."""

    id: str
    name: str
    host: str
    pid: int
    started: float
    heartbeat: float

    def alive_here(self) -> bool:
        """False when this entry is of this host and its process is gone."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class InstanceRegistry:
    """This instance's entry, kept fresh, and the list of all live ones."""

    def __init__(
        self, storage: Storage, clock: Clock, name: str, *, heartbeat: float = HEARTBEAT
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.heartbeat = heartbeat
        pid = os.getpid()
        self.me = InstanceInfo(
            id=f"{name}-{pid}-{secrets.token_hex(3)}",
            name=name,
            host=socket.gethostname(),
            pid=pid,
            started=clock.now(),
            heartbeat=clock.now(),
        )
        self._task: asyncio.Task[None] | None = None

    async def others(self) -> list[InstanceInfo]:
        """Live instances besides this one."""
        return [i for i in await self.instances() if i.id != self.me.id]

    async def instances(self) -> list[InstanceInfo]:
        """Every live instance registered (this one included once it has started)."""
        found = []
        for _, raw in await self.storage.kv.scan(_PREFIX):
            try:
                info = InstanceInfo(**orjson.loads(raw))
            except (orjson.JSONDecodeError, TypeError):
                continue
            if info.alive_here():
                found.append(info)
        return found

    async def start(self) -> None:
        await self._beat()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(StorageError):
            await self.storage.kv.delete(_PREFIX + self.me.id)

    async def _beat(self) -> None:
        info = InstanceInfo(**{**asdict(self.me), "heartbeat": self.clock.now()})
        self.me = info
        await self.storage.kv.set(
            _PREFIX + info.id, orjson.dumps(asdict(info)), ttl=3 * self.heartbeat
        )

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._beat()
            except StorageError:
                log.warning("instance heartbeat not written; retrying")
