"""The JSON Lines audit sink: one file per chain and UTC day, for a SIEM to ship."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from vallum.audit.chain import AuditEntry, entry_from_line
from vallum.audit.query import AuditFilter, matches
from vallum.audit.sinks.base import StoredRow
from vallum.errors import StorageError

__all__ = ["JsonlSink"]

_NAME = re.compile(r"^audit-(?P<chain>.+)-(?P<day>\d{4}-\d{2}-\d{2})\.jsonl$")


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


class JsonlSink:
    """Appends canonical record lines to ``audit-<chain>-<YYYY-MM-DD>.jsonl``."""

    def __init__(self, directory: str, *, fsync: bool = False) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self.name = f"jsonl:{directory}"
        self._last: dict[str, int] = {}

    async def open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _failed(self.name, "open") from exc

    async def close(self) -> None:
        self._last.clear()

    def _files(self, chain: str | None = None) -> list[tuple[str, str, Path]]:
        found = []
        for path in self.directory.glob("audit-*.jsonl"):
            match = _NAME.match(path.name)
            if match and (chain is None or match["chain"] == chain):
                found.append((match["day"], match["chain"], path))
        return sorted(found)

    def _tail(self, chain: str) -> AuditEntry | None:
        files = self._files(chain)
        while files:
            path = files.pop()[2]
            data = path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end != len(data):  # a torn last line: cut it (it is still in the spool)
                with path.open("r+b") as handle:
                    handle.truncate(end)
            if end:
                start = data.rfind(b"\n", 0, end - 1) + 1
                return entry_from_line(data[start : end - 1])
        return None

    def _append(self, entries: list[AuditEntry]) -> None:
        chain = entries[0].chain
        if chain not in self._last:
            tail = self._tail(chain)
            self._last[chain] = tail.seq if tail else 0
        fresh = [e for e in entries if e.seq > self._last[chain]]
        by_day: dict[str, list[bytes]] = {}
        for entry in fresh:
            by_day.setdefault(_day(entry.at), []).append(entry.line + b"\n")
        for day, lines in by_day.items():
            with (self.directory / f"audit-{chain}-{day}.jsonl").open("ab") as out:
                out.write(b"".join(lines))
                out.flush()
                if self.fsync:
                    os.fsync(out.fileno())
        if fresh:
            self._last[chain] = fresh[-1].seq

    async def write(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        try:
            await asyncio.to_thread(self._append, entries)
        except OSError as exc:
            raise _failed(self.name, "write") from exc

    async def last_seq(self, chain: str) -> int:
        entry = await self.last_entry(chain)
        return entry.seq if entry else 0

    async def last_entry(self, chain: str) -> AuditEntry | None:
        try:
            return await asyncio.to_thread(self._tail, chain)
        except OSError as exc:
            raise _failed(self.name, "read") from exc

    async def chains(self) -> list[str]:
        return sorted({chain for _, chain, _ in self._files()})

    async def iter_rows(self, chain: str) -> AsyncIterator[StoredRow]:
        for _, _, path in self._files(chain):
            with path.open("rb") as handle:
                for raw in handle:
                    if raw.strip():
                        yield entry_from_line(raw.rstrip(b"\n")), {}

    async def query(self, where: AuditFilter) -> list[AuditEntry]:
        found: list[AuditEntry] = []
        for _, _, path in self._files(where.chain):
            with path.open("rb") as handle:
                found.extend(
                    entry
                    for entry in (
                        entry_from_line(raw.rstrip(b"\n")) for raw in handle if raw.strip()
                    )
                    if matches(entry, where)
                )
        found.sort(key=lambda e: (e.at, e.chain, e.seq), reverse=where.newest_first)
        return found[: where.limit]

    async def purge(self, before: float) -> int:
        cutoff = _day(before)
        removed = 0
        for day, _, path in self._files():
            if day < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _failed(name: str, op: str) -> StorageError:
    return StorageError("audit sink unavailable", context={"sink": name, "op": op})
