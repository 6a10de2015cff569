"""The SQLite audit sink (the default): one file, WAL mode, batched transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite

from vallum.audit.chain import AuditEntry
from vallum.audit.query import AuditFilter
from vallum.audit.sinks._sql import (
    COLUMNS,
    entry_row,
    load_migrations,
    paged_rows,
    row_entry,
    where_clause,
)
from vallum.audit.sinks.base import StoredRow
from vallum.errors import StorageError

__all__ = ["SqliteSink"]

_INSERT = (
    f"INSERT OR IGNORE INTO audit_records ({', '.join(COLUMNS)}) "  # noqa: S608 - fixed names
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM audit_records"  # noqa: S608 - fixed names


class SqliteSink:
    """Audit records in a SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"sqlite:{path}"
        self._conn: aiosqlite.Connection | None = None

    def _db(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StorageError("audit sink is not open", context={"sink": self.name})
        return self._conn

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(self.path, isolation_level=None)
            conn.row_factory = sqlite3.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA busy_timeout=5000")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS audit_migrations "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            async with conn.execute("SELECT version FROM audit_migrations") as cursor:
                done = {row[0] for row in await cursor.fetchall()}
            for version, sql in load_migrations("sqlite"):
                if version not in done:
                    await conn.executescript(
                        f"BEGIN IMMEDIATE;\n{sql}\nINSERT INTO audit_migrations "
                        f"VALUES ({version}, julianday('now'));\nCOMMIT;"
                    )
        except (sqlite3.Error, OSError) as exc:
            raise _failed(self.name, "open") from exc
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def write(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        conn = self._db()
        rows = [entry_row(e) for e in entries]
        try:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                await conn.executemany(_INSERT, rows)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _failed(self.name, "write") from exc

    async def _all(self, sql: str, *params: Any) -> list[Any]:
        try:
            async with self._db().execute(sql, params) as cursor:
                return list(await cursor.fetchall())
        except sqlite3.Error as exc:
            raise _failed(self.name, "read") from exc

    async def last_seq(self, chain: str) -> int:
        rows = await self._all("SELECT MAX(seq) FROM audit_records WHERE chain = ?", chain)
        return int(rows[0][0] or 0)

    async def last_entry(self, chain: str) -> AuditEntry | None:
        rows = await self._all(f"{_SELECT} WHERE chain = ? ORDER BY seq DESC LIMIT 1", chain)
        return row_entry(rows[0])[0] if rows else None

    async def chains(self) -> list[str]:
        rows = await self._all("SELECT DISTINCT chain FROM audit_records ORDER BY chain")
        return [str(row[0]) for row in rows]

    async def scan(self, chain: str, after: int, limit: int) -> list[StoredRow]:
        rows = await self._all(
            f"{_SELECT} WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?", chain, after, limit
        )
        return [row_entry(row) for row in rows]

    def iter_rows(self, chain: str) -> AsyncIterator[StoredRow]:
        return paged_rows(self.scan, chain)

    async def query(self, where: AuditFilter) -> list[AuditEntry]:
        clause, params = where_clause(where, lambda _n: "?")
        rows = await self._all(_SELECT + clause, *params)
        return [row_entry(row)[0] for row in rows]

    async def purge(self, before: float) -> int:
        conn = self._db()
        try:
            cursor = await conn.execute("DELETE FROM audit_records WHERE at < ?", (before,))
            return int(cursor.rowcount)
        except sqlite3.Error as exc:
            raise _failed(self.name, "purge") from exc


def _failed(name: str, op: str) -> StorageError:
    return StorageError("audit sink unavailable", context={"sink": name, "op": op})
