"""SQLite storage (``sqlite:///path.db``): durable and shared by processes on one machine.

Counters, key-value and log live in the file and are atomic across processes
(``BEGIN IMMEDIATE``). Pub/sub is in-process only: it reaches subscribers of the same
``SQLiteStorage`` object, never another process.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import aiosqlite

from vallum.clock import Clock
from vallum.errors import StorageError
from vallum.storage._support import load_migrations, unavailable
from vallum.storage._window import WindowState, apply_hits, usage
from vallum.storage.base import CounterHit, HitResult, LogEntry
from vallum.storage.memory import LocalPubSub

__all__ = ["SQLiteStorage", "open_sqlite"]

_TABLES = ("counters", "kv", "log", "log_seq", "schema_migrations")  # every table a migration makes
_PURGE_EVERY = 1000  # writes between sweeps of expired counter and kv rows


class _Database:
    """One connection, serialised by a lock; SQL text uses ``{p}`` for the table prefix."""

    def __init__(self, conn: aiosqlite.Connection, prefix: str, clock: Clock) -> None:
        self.conn = conn
        self.prefix = prefix
        self.clock = clock
        self.lock = asyncio.Lock()
        self.writes = 0

    def q(self, sql: str) -> str:
        return sql.replace("{p}", self.prefix)

    @asynccontextmanager
    async def reading(self, op: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self.lock:
            try:
                yield self.conn
            except (sqlite3.Error, ValueError) as exc:
                raise unavailable("sqlite", op) from exc

    @asynccontextmanager
    async def transaction(self, op: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self.reading(op) as conn:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
            self.writes += 1
            if self.writes % _PURGE_EVERY == 0:
                await self._purge(conn)

    async def _purge(self, conn: aiosqlite.Connection) -> None:
        now = self.clock.now()
        await conn.execute(self.q("DELETE FROM {p}_counters WHERE expires_at < ?"), (now,))
        await conn.execute(self.q("DELETE FROM {p}_kv WHERE expires_at <= ?"), (now,))

    async def one(self, conn: aiosqlite.Connection, sql: str, *args: Any) -> Any:
        async with conn.execute(self.q(sql), args) as cursor:
            return await cursor.fetchone()


class SQLiteCounters:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def hit(self, key: str, *, cost: int = 1, limit: int, window: float) -> HitResult:
        return (await self.hit_many([CounterHit(key, limit, window, cost)]))[0]

    async def _load(self, conn: aiosqlite.Connection, key: str) -> WindowState | None:
        row = await self._db.one(
            conn, "SELECT bucket, prev, curr FROM {p}_counters WHERE key = ?", key
        )
        return None if row is None else WindowState(int(row[0]), int(row[1]), int(row[2]))

    async def _save(
        self, conn: aiosqlite.Connection, key: str, state: WindowState, window: float
    ) -> None:
        await conn.execute(
            self._db.q(
                "INSERT INTO {p}_counters (key, bucket, prev, curr, expires_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET bucket = excluded.bucket,"
                " prev = excluded.prev, curr = excluded.curr, expires_at = excluded.expires_at"
            ),
            (key, state.bucket, state.prev, state.curr, (state.bucket + 2) * window),
        )

    async def hit_many(self, hits: Sequence[CounterHit]) -> list[HitResult]:
        if not hits:
            return []
        windows = {h.key: h.window for h in hits}
        async with self._db.transaction("counters.hit") as conn:
            now = self._db.clock.now()
            stored = {key: await self._load(conn, key) for key in windows}
            allowed, states, out = apply_hits(stored, hits, now)
            if allowed:
                for key, state in states.items():
                    await self._save(conn, key, state, windows[key])
            return out

    async def add(self, key: str, amount: int, *, window: float) -> int:
        CounterHit(key, 0, window)
        async with self._db.transaction("counters.add") as conn:
            now = self._db.clock.now()
            state = WindowState.at(await self._load(conn, key), now, window)
            state.curr = max(0, state.curr + amount)
            await self._save(conn, key, state, window)
            return usage(state.prev, state.curr, now, window)

    async def get(self, key: str, *, window: float) -> int:
        CounterHit(key, 0, window)
        async with self._db.reading("counters.get") as conn:
            now = self._db.clock.now()
            state = WindowState.at(await self._load(conn, key), now, window)
            return usage(state.prev, state.curr, now, window)


class SQLiteKeyValue:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def _live(
        self, conn: aiosqlite.Connection, key: str
    ) -> tuple[bytes, float | None] | None:
        row = await self._db.one(conn, "SELECT value, expires_at FROM {p}_kv WHERE key = ?", key)
        if row is None or (row[1] is not None and row[1] <= self._db.clock.now()):
            return None
        return bytes(row[0]), row[1]

    async def _put(
        self, conn: aiosqlite.Connection, key: str, value: bytes, expires_at: float | None
    ) -> None:
        await conn.execute(
            self._db.q(
                "INSERT INTO {p}_kv (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key)"
                " DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
            ),
            (key, bytes(value), expires_at),
        )

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._db.clock.now() + ttl

    async def get(self, key: str) -> bytes | None:
        async with self._db.reading("kv.get") as conn:
            live = await self._live(conn, key)
            return None if live is None else live[0]

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        async with self._db.transaction("kv.set") as conn:
            await self._put(conn, key, value, self._expiry(ttl))

    async def delete(self, key: str) -> bool:
        async with self._db.transaction("kv.delete") as conn:
            live = await self._live(conn, key)
            await conn.execute(self._db.q("DELETE FROM {p}_kv WHERE key = ?"), (key,))
            return live is not None

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, *, ttl: float | None = None
    ) -> bool:
        async with self._db.transaction("kv.compare_and_set") as conn:
            live = await self._live(conn, key)
            if (None if live is None else live[0]) != expected:
                return False
            await self._put(conn, key, new, self._expiry(ttl))
            return True

    async def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        sql = self._db.q(
            "SELECT key, value FROM {p}_kv WHERE substr(key, 1, ?) = ?"
            " AND (expires_at IS NULL OR expires_at > ?) ORDER BY key"
        )
        async with self._db.reading("kv.scan") as conn:
            args = (len(prefix), prefix, self._db.clock.now())
            async with conn.execute(sql, args) as cursor:
                rows = await cursor.fetchall()
        return [(str(row[0]), bytes(row[1])) for row in rows]

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        async with self._db.transaction("kv.incr") as conn:
            live = await self._live(conn, key)
            if live is None:
                value, expires_at = amount, self._expiry(ttl)
            else:
                try:
                    value, expires_at = int(live[0]) + amount, live[1]
                except ValueError as exc:
                    raise StorageError(
                        "value is not an integer", context={"backend": "sqlite", "op": "kv.incr"}
                    ) from exc
            await self._put(conn, key, str(value).encode(), expires_at)
            return value


class SQLiteRecordLog:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def append(self, stream: str, record: bytes) -> int:
        async with self._db.transaction("log.append") as conn:
            row = await self._db.one(
                conn,
                "INSERT INTO {p}_log_seq (stream, seq) VALUES (?, 1)"
                " ON CONFLICT (stream) DO UPDATE SET seq = seq + 1 RETURNING seq",
                stream,
            )
            seq = int(row[0])
            await conn.execute(
                self._db.q("INSERT INTO {p}_log (stream, seq, record, at) VALUES (?, ?, ?, ?)"),
                (stream, seq, bytes(record), self._db.clock.now()),
            )
            return seq

    async def read(self, stream: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
        async with self._db.reading("log.read") as conn:
            sql = self._db.q(
                "SELECT seq, record, at FROM {p}_log WHERE stream = ? AND seq > ?"
                " ORDER BY seq LIMIT ?"
            )
            rows = await conn.execute_fetchall(sql, (stream, after, max(0, limit)))
            return [LogEntry(int(r[0]), bytes(r[1]), float(r[2])) for r in rows]

    async def last_seq(self, stream: str) -> int:
        async with self._db.reading("log.last_seq") as conn:
            row = await self._db.one(conn, "SELECT seq FROM {p}_log_seq WHERE stream = ?", stream)
            return 0 if row is None else int(row[0])


class SQLiteStorage:
    """Counters, key-value and log in one SQLite file; pub/sub within this object."""

    backend = "sqlite"

    def __init__(self, db: _Database, namespace: str) -> None:
        self.namespace = namespace
        self._db = db
        self.counters = SQLiteCounters(db)
        self.kv = SQLiteKeyValue(db)
        self.log = SQLiteRecordLog(db)
        self.pubsub = LocalPubSub()

    async def close(self) -> None:
        await self.pubsub.close_all()
        try:
            await self._db.conn.close()
        except sqlite3.Error as exc:
            raise unavailable("sqlite", "close") from exc

    async def drop_namespace(self) -> None:
        async with self._db.transaction("drop_namespace") as conn:
            for table in _TABLES:
                await conn.execute(self._db.q(f"DROP TABLE IF EXISTS {{p}}_{table}"))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def _migrate(db: _Database) -> None:
    async with db.transaction("migrate") as conn:
        await conn.execute(
            db.q(
                "CREATE TABLE IF NOT EXISTS {p}_schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
        )
        rows = await conn.execute_fetchall(db.q("SELECT version FROM {p}_schema_migrations"))
        applied = {int(r[0]) for r in rows}
        for version, text in load_migrations("sqlite"):
            if version in applied:
                continue
            # our migration files hold plain statements only (no triggers), so ';' splits them
            for statement in filter(None, (s.strip() for s in text.split(";"))):
                await conn.execute(db.q(statement))
            await conn.execute(
                db.q("INSERT INTO {p}_schema_migrations (version, applied_at) VALUES (?, ?)"),
                (version, db.clock.now()),
            )


async def open_sqlite(path: str, *, clock: Clock, namespace: str) -> SQLiteStorage:
    """Open (creating if needed) the database at ``path`` and apply pending migrations."""
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except (sqlite3.Error, OSError) as exc:
        raise unavailable("sqlite", "open") from exc
    db = _Database(conn, namespace, clock)
    try:
        async with db.reading("open") as c:
            await c.execute("PRAGMA busy_timeout = 5000")
            if path != ":memory:":
                await c.execute("PRAGMA journal_mode = WAL")
        await _migrate(db)
    except BaseException:
        await conn.close()
        raise
    return SQLiteStorage(db, namespace)
