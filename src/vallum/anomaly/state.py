"""Enforcement state — blocked and locked-out ranges, suspended and throttled keys — shared.

The durable copy is one document in ``gateway.storage`` (compare-and-set); each change, from
the anomaly layer, the admin API or the CLI, is announced by pub/sub (Redis when counters are
shared) and every instance also re-reads the document each second, so an action takes effect
everywhere within milliseconds, or about one second when the announcement is lost. The
listener resubscribes by itself after its connection drops (and re-reads the document then);
start-up never waits for it longer than a moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from vallum.clock import Clock
from vallum.errors import StorageError, VallumError
from vallum.storage import PubSub, Storage

__all__ = [
    "CHANNEL",
    "DOCUMENT_KEY",
    "Enforcement",
    "HotEnforcement",
    "RangeTable",
    "announcing",
    "fanout",
    "parse_cidr",
]

DOCUMENT_KEY = "anomaly:enforcement"
CHANNEL = "anomaly.enforcement"
_CAS_TRIES = 20
_FIRST_SUBSCRIBE = 2.0  # seconds start() waits for the change feed before going on without it
_KINDS = ("blocks", "lockouts", "suspended", "throttled")
log = logging.getLogger("vallum.anomaly")

Document = dict[str, dict[str, dict[str, Any]]]


class EnforcementConflict(VallumError):
    status = 409
    default_code = "conflict"
    error_type = "invalid_request_error"


def parse_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise EnforcementConflict(f"Not an IP address or CIDR range: {text[:64]!r}.") from exc


_Table = dict[int, dict[int, tuple[str, float]]]  # prefix -> network int -> (cidr, until)


@dataclass(frozen=True, slots=True)
class RangeTable:
    """Ranges compiled for an O(prefix lengths) lookup of one address."""

    v4: _Table
    v6: _Table

    @classmethod
    def compile(cls, entries: dict[str, dict[str, Any]]) -> RangeTable:
        v4: _Table = {}
        v6: _Table = {}
        for cidr, entry in entries.items():
            network = parse_cidr(cidr)
            table = v4 if network.version == 4 else v6
            until = float(entry.get("until") or float("inf"))
            table.setdefault(network.prefixlen, {})[int(network.network_address)] = (cidr, until)
        return cls(v4, v6)

    def find(self, ip: str, now: float) -> tuple[str, float] | None:
        """The (CIDR, until) covering ``ip`` and still in force at ``now``, else None."""
        if not self.v4 and not self.v6:
            return None
        try:
            if ":" in ip:
                value, table, width = int(ipaddress.IPv6Address(ip)), self.v6, 128
            else:
                value, table, width = int.from_bytes(socket.inet_aton(ip)), self.v4, 32
        except (OSError, ValueError):
            return None
        for prefix, networks in table.items():
            hit = networks.get(value >> (width - prefix) << (width - prefix))
            if hit is not None and hit[1] > now:
                return hit
        return None


@dataclass(frozen=True, slots=True)
class HotEnforcement:
    """An immutable compiled copy: O(prefix lengths) lookup of an address, O(1) of a key.

    ``blocks`` refuse every request from a range; ``lockouts`` refuse only the requests from
    a range that do not present a known key (failed logins never lock out the valid keys of
    a shared address: an office behind NAT, a load balancer).
    """

    block_table: RangeTable
    lockout_table: RangeTable
    suspended: dict[str, float]
    throttled: dict[str, tuple[int, float]]

    @classmethod
    def compile(cls, document: Document) -> HotEnforcement:
        suspended = {
            k: float(v.get("until") or float("inf"))
            for k, v in document.get("suspended", {}).items()
        }
        throttled = {
            k: (int(v.get("rpm", 1)), float(v.get("until") or float("inf")))
            for k, v in document.get("throttled", {}).items()
        }
        return cls(
            RangeTable.compile(document.get("blocks", {})),
            RangeTable.compile(document.get("lockouts", {})),
            suspended,
            throttled,
        )

    def blocked(self, ip: str, now: float) -> str | None:
        """The CIDR blocking ``ip`` (still in force at ``now``), else None."""
        hit = self.block_table.find(ip, now)
        return None if hit is None else hit[0]

    def locked_out(self, ip: str, now: float) -> float | None:
        """Until when unauthenticated requests from ``ip`` are refused, else None."""
        hit = self.lockout_table.find(ip, now)
        return None if hit is None else hit[1]

    def is_suspended(self, key_id: str, now: float) -> bool:
        until = self.suspended.get(key_id)
        return until is not None and until > now

    def throttle(self, key_id: str, now: float) -> int | None:
        entry = self.throttled.get(key_id)
        return entry[0] if entry is not None and entry[1] > now else None


_EMPTY = HotEnforcement(RangeTable({}, {}), RangeTable({}, {}), {}, {})


class Enforcement:
    """The durable document, its hot copy, and the listener that keeps the copy current."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        notify: Sequence[PubSub] = (),
        listen: PubSub | None = None,
        reconcile_interval: float = 1.0,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.hot = _EMPTY
        self._raw: bytes | None = None
        self._notify = list(notify) or [storage.pubsub]
        self._listen = listen
        self._interval = reconcile_interval
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = listen is None  # the change feed is subscribed (readiness)

    @staticmethod
    def static(cidrs: Sequence[str]) -> HotEnforcement:
        """A hot copy of fixed blocks (config), never expiring."""
        return HotEnforcement.compile({"blocks": {c: {} for c in cidrs}})

    async def start(self) -> None:
        await self.reload()
        self._tasks.append(asyncio.create_task(self._reconcile_loop()))
        if self._listen is not None:
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._tasks.append(asyncio.create_task(self._listen_loop(self._listen, ready)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ready), _FIRST_SUBSCRIBE)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, StorageError):
                await task
        self._tasks.clear()

    async def document(self) -> Document:
        raw = await self.storage.kv.get(DOCUMENT_KEY)
        return _load(raw)

    async def reload(self) -> None:
        raw = await self.storage.kv.get(DOCUMENT_KEY)
        if raw != self._raw or self._raw is None:
            self.hot = HotEnforcement.compile(_load(raw))
            self._raw = raw

    async def change(self, kind: str, name: str, entry: dict[str, Any] | None) -> bool:
        """Set (``entry``) or remove (None) one item; True when the document changed."""
        if kind not in _KINDS:
            raise EnforcementConflict(f"Unknown enforcement kind {kind!r}.")
        kv = self.storage.kv
        for _ in range(_CAS_TRIES):
            raw = await kv.get(DOCUMENT_KEY)
            document = _expire(_load(raw), self.clock.now())
            items = document.setdefault(kind, {})
            if entry is None and name not in items:
                return False
            if entry is None:
                del items[name]
            else:
                items[name] = entry
            new = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
            if await kv.compare_and_set(DOCUMENT_KEY, raw, new):
                self.hot, self._raw = HotEnforcement.compile(document), new
                await self._announce()
                return True
        raise EnforcementConflict("The enforcement state changed concurrently; try again.")

    async def _announce(self) -> None:
        for pubsub in self._notify:
            try:
                await pubsub.publish(CHANNEL, b"changed")
            except StorageError:
                log.warning("enforcement change not published; instances reconcile within 1 s")

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._reload_logged()

    async def _listen_loop(self, pubsub: PubSub, ready: asyncio.Future[None]) -> None:
        """Subscribe, and subscribe again whenever the feed is lost (with a re-read, so
        nothing announced meanwhile is missed)."""
        while True:
            try:
                async with await pubsub.subscribe(CHANNEL) as subscription:
                    self.listening = True
                    if not ready.done():
                        ready.set_result(None)
                    await self._reload_logged()
                    async for _ in subscription:
                        await self._reload_logged()
            except StorageError:
                pass
            self.listening = False
            log.warning("enforcement change feed lost; resubscribing")
            await asyncio.sleep(min(1.0, self._interval))

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except (StorageError, VallumError):
            log.warning("enforcement state not reloaded")


def fanout(storage: Storage, counters: Storage | None) -> list[PubSub]:
    """Where changes are announced: the durable store's pub/sub, and the counters' (Redis,
    where replicas listen) when it is another backend."""
    if counters is None or counters is storage:
        return [storage.pubsub]
    return [storage.pubsub, counters.pubsub]


def announcing(storage: Storage, counters: Storage | None, clock: Clock) -> Enforcement:
    """An Enforcement for one change from the admin API or the CLI: written to the durable
    document and announced where every replica listens (it listens to nothing itself)."""
    return Enforcement(storage, clock, notify=fanout(storage, counters))


def _load(raw: bytes | None) -> Document:
    if raw is None:
        return {kind: {} for kind in _KINDS}
    document: Document = orjson.loads(raw)
    for kind in _KINDS:
        document.setdefault(kind, {})
    return document


def _expire(document: Document, now: float) -> Document:
    keep: Callable[[dict[str, Any]], bool] = lambda e: not e.get("until") or e["until"] > now  # noqa: E731
    return {kind: {k: v for k, v in items.items() if keep(v)} for kind, items in document.items()}
