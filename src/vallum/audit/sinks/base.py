"""What every audit sink offers: idempotent batch writes, chain positions, query, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from vallum.audit.chain import AuditEntry
from vallum.audit.query import AuditFilter

__all__ = ["AuditSink", "StoredRow"]

StoredRow = tuple[AuditEntry, dict[str, Any]]  # the record and the sink's indexed columns


class AuditSink(Protocol):
    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, entries: list[AuditEntry]) -> None:
        """Store ``entries`` (one chain, consecutive seqs); already-stored seqs are skipped."""
        ...

    async def last_seq(self, chain: str) -> int:
        """Highest stored seq of ``chain`` (0 if none)."""
        ...

    async def last_entry(self, chain: str) -> AuditEntry | None: ...

    async def chains(self) -> list[str]: ...

    def iter_rows(self, chain: str) -> AsyncIterator[StoredRow]:
        """Every stored row of ``chain`` in stored order (for verify)."""
        ...

    async def query(self, where: AuditFilter) -> list[AuditEntry]: ...

    async def purge(self, before: float) -> int:
        """Delete records older than ``before`` (epoch seconds); returns how many."""
        ...
