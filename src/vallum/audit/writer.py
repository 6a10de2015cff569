"""The audit writer: the request path only enqueues; this task chains, spools and ships.

Flow: ``submit`` appends to an in-memory queue (no I/O, no hashing). Every
``flush_interval`` the spooler builds the records, links them into the hash chain,
signs checkpoints, and appends them to the spool (fsync by policy). One task per sink
then copies spooled records to it in order, in batches, retrying with back-off while
the sink is down; nothing is dropped and nothing is reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from vallum.audit.chain import AuditEntry, ChainHead, Signer, link
from vallum.audit.config import AuditSettings
from vallum.audit.record import RecordBuilder
from vallum.audit.sinks.base import AuditSink
from vallum.audit.spool import Spool
from vallum.clock import Clock
from vallum.errors import StorageError
from vallum.pipeline.exchange import Exchange
from vallum.pipeline.layer import Outcome

__all__ = ["AuditWriter", "SinkState"]

log = logging.getLogger("vallum.audit")

Observer = Callable[[Exchange, Outcome, float], None]
_RECENT_MAX = 200_000  # records kept in memory for sinks; older ones are read back from the spool
_ROUND_MAX = 20_000  # most queued calls turned into records per spooler round
_PURGE_EVERY = 3600.0


class SinkState:
    """One sink's progress: the last seq it has stored, and its failure count."""

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink
        self.acked = 0
        self.failures = 0
        self.healthy = True
        self.opened = False
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class AuditWriter:
    """Owns the queue, the chain head, the spool and one delivery task per sink."""

    def __init__(
        self,
        settings: AuditSettings,
        *,
        spool: Spool,
        chain: str,
        sinks: list[AuditSink],
        builder: RecordBuilder,
        signer: Signer | None,
        clock: Clock,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.head = ChainHead(chain)
        self.builder = builder
        self.signer = signer
        self.clock = clock
        self.observer = observer
        self.states = [SinkState(sink) for sink in sinks]
        self.queue: deque[tuple[Exchange, Outcome, float]] = deque()
        self.write_failures = 0
        self.records_written = 0
        self._recent: list[AuditEntry] = []
        self._unspooled: list[AuditEntry] = []
        self._since_checkpoint = 0
        self._checkpoint_at = 0.0
        self._stopping = False
        self._kick = asyncio.Event()
        self._spooler: asyncio.Task[None] | None = None
        self._janitor: asyncio.Task[None] | None = None

    # -- the request path -------------------------------------------------------------------

    def submit(self, exchange: Exchange, outcome: Outcome) -> None:
        """Enqueue one finished call. O(1), no I/O; never refuses."""
        queue = self.queue
        queue.append((exchange, outcome, self.clock.now()))
        if len(queue) >= self.settings.batch_size:
            self._kick.set()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        last = await asyncio.to_thread(self.spool.open)
        if last is not None:
            self.head.seq, self.head.hash = last.seq, last.hash
        for state in self.states:
            state.acked = await self._initial_ack(state)
        self._checkpoint_at = self.clock.monotonic()
        self._spooler = asyncio.create_task(self._spool_loop(), name="audit-spooler")
        for state in self.states:
            state.task = asyncio.create_task(
                self._sink_loop(state), name=f"audit-{state.sink.name}"
            )
        self._janitor = asyncio.create_task(self._janitor_loop(), name="audit-janitor")

    async def _initial_ack(self, state: SinkState) -> int:
        if await self._open(state):
            return state.acked
        log.warning("audit sink unavailable at start", extra={"sink": state.sink.name})
        return 0

    async def _open(self, state: SinkState) -> bool:
        """Open the sink and learn how far it got; False (and retried later) if it is down."""
        try:
            async with asyncio.timeout(10.0):
                if not state.opened:
                    await state.sink.open()
                    state.opened = True
                stored = await state.sink.last_seq(self.head.chain)
        except (StorageError, TimeoutError):
            state.healthy = False
            return False
        state.acked = min(stored, self.head.seq)
        return True

    async def stop(self) -> None:
        """Spool everything queued, sign a last checkpoint, give sinks time to catch up."""
        self._stopping = True
        self._kick.set()
        if self._spooler is not None:
            await self._spooler
        await self._spool_round(final=True)
        await asyncio.to_thread(self.spool.sync)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.drain_seconds
        for state in self.states:
            state.wake.set()
        # Polled: several sinks, one deadline.
        while loop.time() < deadline and any(s.acked < self.head.seq for s in self.states):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for task in [s.task for s in self.states] + [self._janitor]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.to_thread(self.spool.trim, self.acked_min)
        await asyncio.to_thread(self.spool.close)
        for state in self.states:
            with contextlib.suppress(StorageError):
                await state.sink.close()

    @property
    def acked_min(self) -> int:
        return min((s.acked for s in self.states), default=self.head.seq)

    @property
    def lag(self) -> int:
        """Records spooled but not yet stored by every sink."""
        return self.head.seq - self.acked_min

    # -- spooler ----------------------------------------------------------------------------

    async def _spool_loop(self) -> None:
        interval = self.settings.flush_interval
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._kick.wait()
            self._kick.clear()
            await self._spool_round()

    async def _spool_round(self, *, final: bool = False) -> None:
        entries = self._unspooled
        self._unspooled = []
        while self.queue:
            entries.extend(self._build(_ROUND_MAX))
            if not final:
                break
        if self._checkpoint_due(final):
            entries.append(self._checkpoint())
        if not entries:
            return
        try:
            await asyncio.to_thread(self.spool.append, entries)
        except StorageError:
            self.write_failures += 1
            self._unspooled = entries  # kept in order; retried next round
            log.exception("audit spool write failed; records kept in memory")
            return
        self.records_written += len(entries)
        self._recent.extend(entries)
        for state in self.states:
            state.wake.set()

    def _build(self, most: int) -> list[AuditEntry]:
        built: list[AuditEntry] = []
        queue, builder, observer = self.queue, self.builder, self.observer
        every = self.settings.checkpoint_every
        for _ in range(min(most, len(queue))):
            exchange, outcome, at = queue.popleft()
            try:
                record = builder.build(exchange, outcome, at)
            except Exception:  # a broken record must still leave a trace, never vanish
                log.exception(
                    "audit record build failed", extra={"request_id": exchange.request_id}
                )
                record = {
                    "type": "request",
                    "at": at,
                    "request_id": exchange.request_id,
                    "status": outcome.status,
                    "decision": "error",
                    "build_error": True,
                }
            built.append(link(self.head, record))
            if observer is not None:
                observer(exchange, outcome, at)
            self._since_checkpoint += 1
            if self._since_checkpoint >= every:
                built.append(self._checkpoint())
        return built

    def _checkpoint_due(self, final: bool) -> bool:
        if self._since_checkpoint == 0:
            return False
        if final:
            return True
        elapsed = self.clock.monotonic() - self._checkpoint_at
        return elapsed >= self.settings.checkpoint_seconds

    def _checkpoint(self) -> AuditEntry:
        head = self.head
        record: dict[str, Any] = {
            "type": "checkpoint",
            "at": round(self.clock.now(), 6),
            "covers": head.seq,
            "records": self._since_checkpoint,
            "key_id": self.signer.key_id if self.signer else None,
            "chain": head.chain,
            "seq": head.seq + 1,
            "prev": head.hash,
        }
        record["sig"] = self.signer.sign(record) if self.signer else None
        self._since_checkpoint = 0
        self._checkpoint_at = self.clock.monotonic()
        return link(head, record)

    # -- delivery ---------------------------------------------------------------------------

    async def _next_batch(self, state: SinkState) -> list[AuditEntry]:
        after, size = state.acked, self.settings.batch_size
        recent = self._recent
        if recent and recent[0].seq <= after + 1:
            start = after + 1 - recent[0].seq
            return recent[start : start + size]
        return await asyncio.to_thread(self.spool.read, after, size)

    async def _sink_loop(self, state: SinkState) -> None:
        while True:
            if not state.opened and not await self._open(state):
                await self._failed(state)
                continue
            state.wake.clear()
            if state.acked >= self.spool.last_seq:
                await state.wake.wait()
                continue
            batch = await self._next_batch(state)
            if not batch:
                await asyncio.sleep(self.settings.flush_interval)
                continue
            try:
                await state.sink.write(batch)
            except StorageError:
                await self._failed(state)
                continue
            if not state.healthy:
                log.warning("audit sink recovered", extra={"sink": state.sink.name})
            state.acked, state.failures, state.healthy = batch[-1].seq, 0, True
            self._trim_recent()

    async def _failed(self, state: SinkState) -> None:
        self.write_failures += 1
        state.failures += 1
        if state.healthy:
            log.warning(
                "audit sink unavailable; records stay in the spool", extra={"sink": state.sink.name}
            )
        state.healthy = False
        await asyncio.sleep(min(self.settings.retry_max, 0.05 * 2 ** min(state.failures, 12)))

    def _trim_recent(self) -> None:
        recent = self._recent
        if not recent:
            return
        keep_from = max(self.acked_min + 1, self.head.seq - _RECENT_MAX + 1)
        drop = keep_from - recent[0].seq
        if drop >= 4096 or drop >= len(recent):
            del recent[: max(0, drop)]

    async def _janitor_loop(self) -> None:
        retention = self.settings.retention_days
        while True:
            await asyncio.to_thread(self.spool.trim, self.acked_min)
            if retention is not None:
                before = self.clock.now() - retention * 86400.0
                for state in self.states:
                    with contextlib.suppress(StorageError):
                        await state.sink.purge(before)
            await asyncio.sleep(min(_PURGE_EVERY, 60.0) if retention is None else _PURGE_EVERY)
