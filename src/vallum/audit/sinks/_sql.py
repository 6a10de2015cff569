"""SQL shared by the SQLite and PostgreSQL sinks: migrations, row shape, filter clauses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

from vallum.audit.chain import AuditEntry, entry_from_line
from vallum.audit.query import INDEX_COLUMNS, AuditFilter, index_fields

__all__ = ["COLUMNS", "entry_row", "load_migrations", "paged_rows", "row_entry", "where_clause"]

_PAGE = 2000
Scan = Callable[[str, int, int], Awaitable[list[tuple[AuditEntry, dict[str, Any]]]]]


async def paged_rows(scan: Scan, chain: str) -> AsyncIterator[tuple[AuditEntry, dict[str, Any]]]:
    """Every row of one chain in order, read a page at a time with the sink's ``scan``."""
    after = 0
    while True:
        rows = await scan(chain, after, _PAGE)
        for row in rows:
            yield row
        if len(rows) < _PAGE:
            return
        after = rows[-1][0].seq


COLUMNS = ("chain", "seq", *INDEX_COLUMNS, "record")


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """Packaged ``audit/sql/<dialect>/NNNN_name.sql`` as (version, text), in order."""
    folder = resources.files("vallum.audit").joinpath("sql", dialect)
    found = [
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found)


def entry_row(entry: AuditEntry) -> tuple[Any, ...]:
    fields = index_fields(entry.data)
    return (entry.chain, entry.seq, *(fields[c] for c in INDEX_COLUMNS), entry.line.decode())


def row_entry(row: Any) -> tuple[AuditEntry, dict[str, Any]]:
    """A stored row as (entry from the record text, with the row's chain/seq; its columns)."""
    parsed = entry_from_line(str(row["record"]).encode())
    entry = AuditEntry(str(row["chain"]), int(row["seq"]), parsed.data, parsed.line)
    return entry, {c: row[c] for c in INDEX_COLUMNS}


def where_clause(where: AuditFilter, mark: Callable[[int], str]) -> tuple[str, list[Any]]:
    """``WHERE ... ORDER BY ... LIMIT ...`` with placeholders made by ``mark(n)``."""
    conditions: list[str] = []
    params: list[Any] = []

    def add(sql: str, value: Any) -> None:
        params.append(value)
        conditions.append(sql.replace("?", mark(len(params))))

    if not where.include_checkpoints:
        add("kind = ?", "request")
    if where.since is not None:
        add("at >= ?", where.since)
    if where.until is not None:
        add("at < ?", where.until)
    for column, value in (
        ("chain", where.chain),
        ("key_id", where.key),
        ("principal", where.principal),
        ("team", where.team),
        ("decision", where.decision),
        ("request_id", where.request_id),
    ):
        if value is not None:
            add(f"{column} = ?", value)
    if where.finding is not None:
        add("findings LIKE ?", f"%|{where.finding}|%")
    order = "DESC" if where.newest_first else "ASC"
    sql = " WHERE " + " AND ".join(conditions) if conditions else ""
    params.append(where.limit)
    sql += f" ORDER BY at {order}, chain {order}, seq {order} LIMIT {mark(len(params))}"
    return sql, params
