"""PostgreSQL storage (``postgresql://``): durable state shared by every instance.

Each namespace is a schema. Counter hits take transaction-scoped advisory locks on
their keys (in a fixed order, so concurrent batches cannot deadlock) and are exact
across instances. Pub/sub is LISTEN/NOTIFY, base64-encoded, at most 8000 bytes a message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import asyncpg

from vallum.clock import Clock
from vallum.errors import StorageError
from vallum.storage._support import load_migrations, unavailable
from vallum.storage._window import WindowState, apply_hits, usage
from vallum.storage.base import CounterHit, HitResult, LogEntry

__all__ = ["PostgresStorage", "open_postgres"]

_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_NOTIFY_LIMIT = 8000  # bytes, PostgreSQL's NOTIFY payload limit
_QUEUE_SIZE = 1024
_LOST = object()  # queued when a LISTEN connection dies

_LOCK_KEYS = (
    "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended($1 || k, 0) AS h"
    " FROM unnest($2::text[]) AS k ORDER BY h) AS ordered"
)
_SAVE_COUNTER = (
    "INSERT INTO counters (key, bucket, prev, curr, expires_at) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (key) DO UPDATE SET bucket = EXCLUDED.bucket, prev = EXCLUDED.prev,"
    " curr = EXCLUDED.curr, expires_at = EXCLUDED.expires_at"
)
_INCR = (
    "INSERT INTO kv AS old (key, value, expires_at)"
    " VALUES ($1, convert_to($2::bigint::text, 'UTF8'), $3) ON CONFLICT (key) DO UPDATE SET"
    " value = CASE WHEN old.expires_at <= $4 THEN EXCLUDED.value"
    " ELSE convert_to((convert_from(old.value, 'UTF8')::bigint + $2::bigint)::text, 'UTF8') END,"
    " expires_at = CASE WHEN old.expires_at <= $4 THEN EXCLUDED.expires_at"
    " ELSE old.expires_at END"
    " RETURNING convert_from(value, 'UTF8')::bigint"
)
_APPEND = (
    "WITH next AS (INSERT INTO log_seq (stream, seq) VALUES ($1, 1) ON CONFLICT (stream)"
    " DO UPDATE SET seq = log_seq.seq + 1 RETURNING seq)"
    " INSERT INTO log (stream, seq, record, at) SELECT $1, seq, $2, $3 FROM next RETURNING seq"
)


class _Postgres:
    """The pool, clock and namespace shared by the abilities."""

    def __init__(self, pool: Any, dsn: str, namespace: str, clock: Clock) -> None:
        self.pool = pool
        self.dsn = dsn
        self.namespace = namespace
        self.clock = clock

    @asynccontextmanager
    async def connection(self, op: str, *, transaction: bool = False) -> AsyncIterator[Any]:
        try:
            async with self.pool.acquire() as conn:
                if not transaction:
                    yield conn
                    return
                async with conn.transaction():
                    yield conn
        except _DRIVER_ERRORS as exc:
            raise unavailable("postgres", op) from exc


class PostgresCounters:
    def __init__(self, pg: _Postgres) -> None:
        self._pg = pg

    async def hit(self, key: str, *, cost: int = 1, limit: int, window: float) -> HitResult:
        return (await self.hit_many([CounterHit(key, limit, window, cost)]))[0]

    async def _lock_and_load(self, conn: Any, keys: list[str]) -> dict[str, WindowState | None]:
        await conn.execute(_LOCK_KEYS, self._pg.namespace + ":", keys)
        rows = await conn.fetch(
            "SELECT key, bucket, prev, curr FROM counters WHERE key = ANY($1::text[])", keys
        )
        stored: dict[str, WindowState | None] = dict.fromkeys(keys)
        for row in rows:
            stored[row["key"]] = WindowState(row["bucket"], row["prev"], row["curr"])
        return stored

    async def hit_many(self, hits: Sequence[CounterHit]) -> list[HitResult]:
        if not hits:
            return []
        windows = {h.key: h.window for h in hits}
        async with self._pg.connection("counters.hit", transaction=True) as conn:
            stored = await self._lock_and_load(conn, list(windows))
            now = self._pg.clock.now()
            allowed, states, out = apply_hits(stored, hits, now)
            if allowed:
                await conn.executemany(
                    _SAVE_COUNTER,
                    [
                        (k, s.bucket, s.prev, s.curr, (s.bucket + 2) * windows[k])
                        for k, s in states.items()
                    ],
                )
            return out

    async def add(self, key: str, amount: int, *, window: float) -> int:
        CounterHit(key, 0, window)
        async with self._pg.connection("counters.add", transaction=True) as conn:
            stored = await self._lock_and_load(conn, [key])
            now = self._pg.clock.now()
            state = WindowState.at(stored[key], now, window)
            state.curr = max(0, state.curr + amount)
            expires_at = (state.bucket + 2) * window
            await conn.execute(_SAVE_COUNTER, key, state.bucket, state.prev, state.curr, expires_at)
            return usage(state.prev, state.curr, now, window)

    async def get(self, key: str, *, window: float) -> int:
        CounterHit(key, 0, window)
        async with self._pg.connection("counters.get") as conn:
            row = await conn.fetchrow("SELECT bucket, prev, curr FROM counters WHERE key = $1", key)
        now = self._pg.clock.now()
        stored = None if row is None else WindowState(row[0], row[1], row[2])
        state = WindowState.at(stored, now, window)
        return usage(state.prev, state.curr, now, window)


class PostgresKeyValue:
    def __init__(self, pg: _Postgres) -> None:
        self._pg = pg

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._pg.clock.now() + ttl

    async def get(self, key: str) -> bytes | None:
        async with self._pg.connection("kv.get") as conn:
            value = await conn.fetchval(
                "SELECT value FROM kv WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)",
                key,
                self._pg.clock.now(),
            )
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        async with self._pg.connection("kv.set") as conn:
            await conn.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES ($1, $2, $3) ON CONFLICT (key)"
                " DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at",
                key,
                bytes(value),
                self._expiry(ttl),
            )

    async def delete(self, key: str) -> bool:
        async with self._pg.connection("kv.delete") as conn:
            row = await conn.fetchrow("DELETE FROM kv WHERE key = $1 RETURNING expires_at", key)
        return row is not None and (row[0] is None or row[0] > self._pg.clock.now())

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, *, ttl: float | None = None
    ) -> bool:
        now, expires_at = self._pg.clock.now(), self._expiry(ttl)
        async with self._pg.connection("kv.compare_and_set") as conn:
            if expected is None:
                done = await conn.fetchval(
                    "INSERT INTO kv AS old (key, value, expires_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
                    " expires_at = EXCLUDED.expires_at WHERE old.expires_at <= $4 RETURNING 1",
                    key,
                    bytes(new),
                    expires_at,
                    now,
                )
            else:
                done = await conn.fetchval(
                    "UPDATE kv SET value = $3, expires_at = $4 WHERE key = $1 AND value = $5"
                    " AND (expires_at IS NULL OR expires_at > $2) RETURNING 1",
                    key,
                    now,
                    bytes(new),
                    expires_at,
                    bytes(expected),
                )
        return done is not None

    async def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        async with self._pg.connection("kv.scan") as conn:
            rows = await conn.fetch(
                "SELECT key, value FROM kv WHERE left(key, char_length($1)) = $1"
                " AND (expires_at IS NULL OR expires_at > $2) ORDER BY key",
                prefix,
                self._pg.clock.now(),
            )
        return [(str(row[0]), bytes(row[1])) for row in rows]

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        now = self._pg.clock.now()
        async with self._pg.connection("kv.incr") as conn:
            value = await conn.fetchval(_INCR, key, amount, self._expiry(ttl), now)
        return int(value)


class PostgresRecordLog:
    def __init__(self, pg: _Postgres) -> None:
        self._pg = pg

    async def append(self, stream: str, record: bytes) -> int:
        async with self._pg.connection("log.append") as conn:
            seq = await conn.fetchval(_APPEND, stream, bytes(record), self._pg.clock.now())
        return int(seq)

    async def read(self, stream: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
        async with self._pg.connection("log.read") as conn:
            rows = await conn.fetch(
                "SELECT seq, record, at FROM log WHERE stream = $1 AND seq > $2"
                " ORDER BY seq LIMIT $3",
                stream,
                after,
                max(0, limit),
            )
        return [LogEntry(r[0], bytes(r[1]), r[2]) for r in rows]

    async def last_seq(self, stream: str) -> int:
        async with self._pg.connection("log.last_seq") as conn:
            seq = await conn.fetchval("SELECT seq FROM log_seq WHERE stream = $1", stream)
        return 0 if seq is None else int(seq)


class PostgresSubscription:
    """A dedicated LISTEN connection for one channel."""

    def __init__(self, conn: Any, channel: str, owner: PostgresPubSub) -> None:
        self._conn = conn
        self._channel = channel
        self._owner = owner
        self._queue: asyncio.Queue[object] = asyncio.Queue(_QUEUE_SIZE)
        self._closed = False

    def on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._put(base64.b64decode(payload))

    def on_lost(self, _conn: Any) -> None:
        self._put(_LOST)

    def _put(self, item: object) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        if item is _LOST:
            raise StorageError(
                "storage backend unavailable",
                context={"backend": "postgres", "op": "pubsub.receive"},
            )
        return item if isinstance(item, bytes) else b""

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner.forget(self)
        self._put(None)
        try:
            await self._conn.remove_listener(self._channel, self.on_notify)
            await self._conn.close(timeout=5)
        except _DRIVER_ERRORS:
            self._conn.terminate()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class PostgresPubSub:
    def __init__(self, pg: _Postgres) -> None:
        self._pg = pg
        self._open: set[PostgresSubscription] = set()

    def _channel(self, channel: str) -> str:
        # channel names are identifiers (<= 63 bytes): hash the caller's name into one
        digest = hashlib.sha256(channel.encode()).hexdigest()[:20]
        return f"{self._pg.namespace}_{digest}"

    async def publish(self, channel: str, message: bytes) -> None:
        payload = base64.b64encode(message).decode("ascii")
        if len(payload) >= _NOTIFY_LIMIT:
            raise StorageError(
                "message too large for PostgreSQL NOTIFY",
                context={"backend": "postgres", "op": "pubsub.publish", "size": len(message)},
            )
        async with self._pg.connection("pubsub.publish") as conn:
            await conn.execute("SELECT pg_notify($1, $2)", self._channel(channel), payload)

    async def subscribe(self, channel: str) -> PostgresSubscription:
        name = self._channel(channel)
        try:
            conn = await asyncpg.connect(self._pg.dsn)
        except _DRIVER_ERRORS as exc:
            raise unavailable("postgres", "pubsub.subscribe") from exc
        subscription = PostgresSubscription(conn, name, self)
        try:
            conn.add_termination_listener(subscription.on_lost)
            await conn.add_listener(name, subscription.on_notify)
        except _DRIVER_ERRORS as exc:
            conn.terminate()
            raise unavailable("postgres", "pubsub.subscribe") from exc
        self._open.add(subscription)
        return subscription

    def forget(self, subscription: PostgresSubscription) -> None:
        self._open.discard(subscription)

    async def close_all(self) -> None:
        for subscription in list(self._open):
            await subscription.close()


class PostgresStorage:
    """All four abilities in one PostgreSQL schema (named after the namespace)."""

    backend = "postgres"

    def __init__(self, pg: _Postgres) -> None:
        self.namespace = pg.namespace
        self._pg = pg
        self.counters = PostgresCounters(pg)
        self.kv = PostgresKeyValue(pg)
        self.log = PostgresRecordLog(pg)
        self.pubsub = PostgresPubSub(pg)

    async def close(self) -> None:
        await self.pubsub.close_all()
        try:
            await self._pg.pool.close()
        except _DRIVER_ERRORS as exc:
            raise unavailable("postgres", "close") from exc

    async def drop_namespace(self) -> None:
        async with self._pg.connection("drop_namespace") as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self._pg.namespace}" CASCADE')

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def _migrate(pg: _Postgres) -> None:
    async with pg.connection("migrate", transaction=True) as conn:
        # one migrator at a time per namespace, across instances
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", pg.namespace)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{pg.namespace}"')
        await conn.execute("SELECT set_config('search_path', $1, true)", f'"{pg.namespace}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, text in load_migrations("postgres"):
            if version not in applied:
                await conn.execute(text)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                    version,
                    pg.clock.now(),
                )


async def open_postgres(url: str, *, clock: Clock, namespace: str) -> PostgresStorage:
    """Connect a pool whose sessions use the namespace's schema, and apply migrations."""
    try:
        pool = await asyncpg.create_pool(
            dsn=url,
            min_size=1,
            max_size=10,
            command_timeout=10,
            server_settings={"search_path": f'"{namespace}"'},
        )
    except _DRIVER_ERRORS as exc:
        raise unavailable("postgres", "open") from exc
    pg = _Postgres(pool, url, namespace, clock)
    try:
        await _migrate(pg)
    except BaseException:
        await pool.close()
        raise
    return PostgresStorage(pg)
