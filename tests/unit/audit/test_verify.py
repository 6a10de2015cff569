"""verify names the first changed, deleted, inserted or reordered record, on real stores."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.unit.audit.helpers import make_exchange, make_outcome, make_writer
from vallum.audit.chain import Signer
from vallum.audit.sinks.jsonl import JsonlSink
from vallum.audit.sinks.sqlite import SqliteSink
from vallum.audit.verify import verify_sink

SIGNER = Signer(Ed25519PrivateKey.generate())


async def _trail(tmp_path: Path, count: int = 30) -> Path:
    db = tmp_path / "audit.db"
    sinks = [SqliteSink(str(db)), JsonlSink(str(tmp_path / "jsonl"))]
    writer = make_writer(tmp_path, sinks, signer=SIGNER, checkpoint_every=10)
    await writer.start()
    for n in range(count):
        writer.submit(make_exchange(n), make_outcome())
    await writer.stop()
    return db


def _sql(db: Path, statement: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(statement)


def _change(db: Path) -> None:
    _sql(
        db,
        "UPDATE audit_records SET record = replace(record, 'req_000012', 'req_999999') "
        "WHERE seq = 14",
    )


def _delete(db: Path) -> None:
    _sql(db, "DELETE FROM audit_records WHERE seq = 14")


def _column(db: Path) -> None:
    _sql(db, "UPDATE audit_records SET team = 'other' WHERE seq = 14")


def _reorder(db: Path) -> None:
    _sql(db, "UPDATE audit_records SET seq = -seq WHERE seq IN (14, 15)")
    _sql(db, "UPDATE audit_records SET seq = 29 + seq WHERE seq IN (-14, -15)")  # swap 14 <-> 15


def _insert(db: Path) -> None:
    # A copy of record 13 squeezed in as seq 14; the originals from 14 on move up by one.
    _sql(db, "UPDATE audit_records SET seq = seq + 1000 WHERE seq >= 14")
    _sql(db, "UPDATE audit_records SET seq = seq - 999 WHERE seq >= 1014")
    _sql(
        db,
        "INSERT INTO audit_records SELECT chain, 14, at, kind, request_id, key_id, principal, "
        "team, decision, status, model, route, findings, record FROM audit_records WHERE seq = 13",
    )


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        (_change, "changed"),
        (_delete, "deleted"),
        (_column, "column_changed"),
        (_reorder, "reordered"),
        (_insert, "reordered"),
    ],
)
async def test_sqlite_tampering_is_found_at_the_first_bad_row(
    tmp_path: Path, tamper: Callable[[Path], None], kind: str
) -> None:
    db = await _trail(tmp_path)
    sink = SqliteSink(str(db))
    await sink.open()
    assert (await verify_sink(sink, SIGNER.public)).ok
    tamper(db)
    report = await verify_sink(sink, SIGNER.public)
    await sink.close()
    first = report.first_problem
    assert first is not None
    assert first.seq == 14
    assert first.kind == kind


async def test_a_rewritten_chain_fails_the_checkpoint_signature(tmp_path: Path) -> None:
    """Rewrite every record from 5 on with fresh hashes: only the signature can tell."""
    import orjson

    from vallum.audit.chain import ChainHead, link

    db = await _trail(tmp_path)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, record FROM audit_records ORDER BY seq").fetchall()
        head = ChainHead("test-chain")
        for seq, text in rows:
            data = orjson.loads(text)
            if seq == 5:
                data["status"] = 500
            if seq >= 5:
                entry = link(head, data)
                conn.execute(
                    "UPDATE audit_records SET record = ?, status = ? WHERE seq = ?",
                    (entry.line.decode(), data.get("status"), seq),
                )
            else:
                head.seq, head.hash = seq, data["hash"]
    sink = SqliteSink(str(db))
    await sink.open()
    report = await verify_sink(sink, SIGNER.public)
    await sink.close()
    assert report.first_problem is not None
    assert report.first_problem.kind == "bad_signature"
    assert report.first_problem.seq == 11  # the first checkpoint after the rewrite


async def test_jsonl_reordered_lines_are_found(tmp_path: Path) -> None:
    await _trail(tmp_path)
    [path] = list((tmp_path / "jsonl").glob("*.jsonl"))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[13], lines[14] = lines[14], lines[13]
    path.write_bytes(b"".join(lines))
    sink = JsonlSink(str(tmp_path / "jsonl"))
    report = await verify_sink(sink, SIGNER.public)
    assert report.first_problem is not None
    assert (report.first_problem.seq, report.first_problem.kind) == (14, "reordered")


async def test_a_wrong_public_key_fails(tmp_path: Path) -> None:
    db = await _trail(tmp_path)
    sink = SqliteSink(str(db))
    await sink.open()
    other = Ed25519PrivateKey.generate().public_key()
    report = await verify_sink(sink, other)
    await sink.close()
    assert report.first_problem is not None
    assert report.first_problem.kind == "bad_signature"
