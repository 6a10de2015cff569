"""``vallum audit verify``: walk each chain and name the first record that is not what it was.

Detects a changed record (its hash no longer matches), a deleted one (a seq gap or a
broken ``prev`` link), an inserted or reordered one (seq out of order, duplicated, or
not matching its row), an indexed column edited apart from its record, and a forged
checkpoint (bad Ed25519 signature). Records after the last signed checkpoint are only
hash-linked: someone able to rewrite the store could recompute those (reported as
``unsealed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vallum.audit.chain import AuditEntry, record_hash, split_line, verify_signature
from vallum.audit.query import INDEX_COLUMNS, index_fields
from vallum.audit.sinks.base import AuditSink

__all__ = ["ChainReport", "ChainVerifier", "Problem", "VerifyReport", "verify_sink"]

_MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class Problem:
    chain: str
    seq: int
    kind: str  # changed | deleted | inserted | reordered | column_changed | bad_signature
    message: str

    def __str__(self) -> str:
        return f"{self.chain} seq {self.seq}: {self.kind}: {self.message}"


@dataclass(slots=True)
class ChainReport:
    chain: str
    records: int = 0
    checkpoints: int = 0
    signed_checkpoints: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    sealed_seq: int = 0  # the last record covered by a valid signed checkpoint
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unsealed(self) -> int:
        return max(0, self.last_seq - self.sealed_seq)

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "ok": self.ok,
            "records": self.records,
            "checkpoints": self.checkpoints,
            "signed_checkpoints": self.signed_checkpoints,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "unsealed": self.unsealed,
            "problems": [str(p) for p in self.problems],
        }


@dataclass(slots=True)
class VerifyReport:
    chains: list[ChainReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(chain.ok for chain in self.chains)

    @property
    def first_problem(self) -> Problem | None:
        for chain in self.chains:
            if chain.problems:
                return chain.problems[0]
        return None


class ChainVerifier:
    """Checks one chain's rows in stored order, one at a time."""

    def __init__(self, chain: str, public_key: Ed25519PublicKey | None) -> None:
        self.report = ChainReport(chain)
        self.public_key = public_key
        self._prev_seq: int | None = None
        self._prev_hash: str | None = None

    def _problem(self, seq: int, kind: str, message: str) -> None:
        if len(self.report.problems) < _MAX_PROBLEMS:
            self.report.problems.append(Problem(self.report.chain, seq, kind, message))

    def feed(self, entry: AuditEntry, columns: dict[str, Any]) -> None:
        data, seq = entry.data, entry.seq
        report = self.report
        if report.first_seq is None:
            report.first_seq = seq
        if data.get("seq") != seq or data.get("chain") != entry.chain:
            self._problem(seq, "reordered", f"the row holds the record of seq {data.get('seq')}")
        self._check_position(seq, data)
        parts = split_line(entry.line)
        if parts is None or parts[1] != data.get("hash"):
            self._problem(seq, "changed", "the record's hash field is malformed")
        elif record_hash(str(data.get("prev", "")), parts[0]) != parts[1]:
            self._problem(seq, "changed", "the record does not match its hash")
        for column in INDEX_COLUMNS if columns else ():
            if columns.get(column) != index_fields(data)[column]:
                self._problem(seq, "column_changed", f"column {column!r} differs from the record")
                break
        if data.get("type") == "checkpoint":
            self._checkpoint(seq, data)
        else:
            report.records += 1
        report.last_seq = max(report.last_seq, seq)
        self._prev_seq, self._prev_hash = seq, str(data.get("hash"))

    def _check_position(self, seq: int, data: dict[str, Any]) -> None:
        prev_seq = self._prev_seq
        if prev_seq is None:
            return
        problems = self.report.problems
        if seq <= prev_seq:
            kind = "inserted" if seq == prev_seq else "reordered"
            if problems and problems[-1].kind == "deleted" and problems[-1].seq == seq:
                problems.pop()  # the "missing" record was only moved further down
                kind = "reordered"
            self._problem(seq, kind, f"seq {seq} comes after seq {prev_seq}")
        elif seq > prev_seq + 1:
            self._problem(prev_seq + 1, "deleted", f"records {prev_seq + 1}..{seq - 1} are missing")
        elif data.get("prev") != self._prev_hash:
            self._problem(seq, "inserted", "its prev hash is not the hash of the record before")

    def _checkpoint(self, seq: int, data: dict[str, Any]) -> None:
        self.report.checkpoints += 1
        if data.get("sig") is None:
            return
        if self.public_key is None:
            return
        if not verify_signature(self.public_key, data):
            self._problem(seq, "bad_signature", "the checkpoint signature does not verify")
            return
        self.report.signed_checkpoints += 1
        if not self.report.problems:
            self.report.sealed_seq = seq


async def verify_sink(
    sink: AuditSink, public_key: Ed25519PublicKey | None = None, chain: str | None = None
) -> VerifyReport:
    """Verify every chain (or one) stored in ``sink``."""
    report = VerifyReport()
    for name in [chain] if chain else await sink.chains():
        verifier = ChainVerifier(name, public_key)
        async for entry, columns in sink.iter_rows(name):
            verifier.feed(entry, columns)
        report.chains.append(verifier.report)
    return report
