"""The PostgreSQL audit sink: a pooled, batched ``INSERT ... SELECT FROM unnest(...)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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
from vallum.errors import DependencyMissingError, StorageError
from vallum.storage import redact_url

__all__ = ["PostgresSink"]

_TYPES = (
    "text",
    "bigint",
    "float8",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "int",
    "text",
    "text",
    "text",
    "text",
)
_INSERT = (
    f"INSERT INTO audit_records ({', '.join(COLUMNS)}) SELECT * FROM unnest("  # noqa: S608
    + ", ".join(f"${n}::{t}[]" for n, t in enumerate(_TYPES, start=1))
    + ") ON CONFLICT (chain, seq) DO NOTHING"
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM audit_records"  # noqa: S608 - fixed names
_MIGRATION_LOCK = 0x7661_6C61_7564  # "valaud": one advisory lock id for audit migrations


class PostgresSink:
    """Audit records in one PostgreSQL schema."""

    def __init__(self, url: str, schema: str, pool_size: int = 4) -> None:
        self.url = url
        self.schema = schema
        self.pool_size = pool_size
        self.name = f"postgres:{redact_url(url)}#{schema}"
        self._pool: Any = None
        try:
            import asyncpg
        except ImportError as exc:
            raise DependencyMissingError(
                "the postgres audit sink needs: pip install 'vallum[postgres]'"
            ) from exc
        self._errors: tuple[type[BaseException], ...] = (
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            OSError,
            TimeoutError,
        )
        self._asyncpg = asyncpg

    async def open(self) -> None:
        try:
            self._pool = await self._asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                timeout=5.0,
                command_timeout=10.0,
                server_settings={"search_path": self.schema},
            )
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS audit_migrations "
                    "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                done = {r[0] for r in await conn.fetch("SELECT version FROM audit_migrations")}
                for version, sql in load_migrations("postgres"):
                    if version not in done:
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO audit_migrations (version) VALUES ($1)", version
                        )
        except self._errors as exc:
            await self.close()
            raise _failed(self.name, "open") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await pool.close()
            except self._errors:
                pool.terminate()

    async def _run(self, op: str, method: str, sql: str, *args: Any) -> Any:
        if self._pool is None:
            raise StorageError("audit sink is not open", context={"sink": self.name})
        try:
            async with self._pool.acquire(timeout=5.0) as conn:
                return await getattr(conn, method)(sql, *args)
        except self._errors as exc:
            raise _failed(self.name, op) from exc

    async def write(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        columns = list(zip(*(entry_row(e) for e in entries), strict=True))
        await self._run("write", "execute", _INSERT, *(list(c) for c in columns))

    async def last_seq(self, chain: str) -> int:
        value = await self._run(
            "read", "fetchval", "SELECT MAX(seq) FROM audit_records WHERE chain = $1", chain
        )
        return int(value or 0)

    async def last_entry(self, chain: str) -> AuditEntry | None:
        rows = await self._run(
            "read", "fetch", f"{_SELECT} WHERE chain = $1 ORDER BY seq DESC LIMIT 1", chain
        )
        return row_entry(rows[0])[0] if rows else None

    async def chains(self) -> list[str]:
        rows = await self._run("read", "fetch", "SELECT DISTINCT chain FROM audit_records")
        return sorted(str(r[0]) for r in rows)

    async def scan(self, chain: str, after: int, limit: int) -> list[StoredRow]:
        rows = await self._run(
            "read",
            "fetch",
            f"{_SELECT} WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            chain,
            after,
            limit,
        )
        return [row_entry(r) for r in rows]

    def iter_rows(self, chain: str) -> AsyncIterator[StoredRow]:
        return paged_rows(self.scan, chain)

    async def query(self, where: AuditFilter) -> list[AuditEntry]:
        clause, params = where_clause(where, lambda n: f"${n}")
        rows = await self._run("read", "fetch", _SELECT + clause, *params)
        return [row_entry(r)[0] for r in rows]

    async def purge(self, before: float) -> int:
        status = await self._run(
            "purge", "execute", "DELETE FROM audit_records WHERE at < $1", before
        )
        return int(str(status).rsplit(" ", 1)[-1] or 0)

    async def drop_schema(self) -> None:
        """Remove the sink's schema and everything in it (tests)."""
        await self._run("drop", "execute", f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def _failed(name: str, op: str) -> StorageError:
    return StorageError("audit sink unavailable", context={"sink": name, "op": op})
