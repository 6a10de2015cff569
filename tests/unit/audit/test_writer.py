"""The writer end to end on SQLite and JSON Lines: every record, in order, chain verifying."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.unit.audit.helpers import make_exchange, make_outcome, make_writer
from vallum.audit.chain import AuditEntry, Signer
from vallum.audit.query import AuditFilter
from vallum.audit.sinks.jsonl import JsonlSink
from vallum.audit.sinks.sqlite import SqliteSink
from vallum.audit.verify import verify_sink
from vallum.errors import StorageError


class FlakySink:
    """Wraps a sink; fails every write while ``down`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = "flaky"
        self.down = False
        self.failed = 0

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def write(self, entries: list[AuditEntry]) -> None:
        if self.down:
            self.failed += 1
            raise StorageError("down")
        await self.inner.write(entries)

    async def last_seq(self, chain: str) -> int:
        if self.down:
            raise StorageError("down")
        result: int = await self.inner.last_seq(chain)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def _requests(writer: Any, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        writer.submit(make_exchange(n), make_outcome())


async def test_every_record_reaches_every_sink_in_order(tmp_path: Path) -> None:
    sqlite = SqliteSink(str(tmp_path / "audit.db"))
    jsonl = JsonlSink(str(tmp_path / "jsonl"))
    signer = Signer(Ed25519PrivateKey.generate())
    writer = make_writer(tmp_path, [sqlite, jsonl], signer=signer, checkpoint_every=50)
    await writer.start()
    await _requests(writer, 230)
    await writer.stop()
    for sink in (SqliteSink(str(tmp_path / "audit.db")), JsonlSink(str(tmp_path / "jsonl"))):
        await sink.open()
        rows = await sink.query(AuditFilter(limit=10_000))
        assert [r.data["request_id"] for r in rows] == [f"req_{n:06d}" for n in range(230)]
        report = await verify_sink(sink, signer.public)
        assert report.ok, report.first_problem
        assert report.chains[0].checkpoints == 5  # 4 by count, one at stop
        assert report.chains[0].signed_checkpoints == 5
        assert report.chains[0].unsealed == 0
        await sink.close()


async def test_a_down_sink_gets_everything_replayed_in_order(tmp_path: Path) -> None:
    flaky = FlakySink(SqliteSink(str(tmp_path / "audit.db")))
    writer = make_writer(tmp_path, [flaky], batch_size=7, retry_max=0.05)
    await writer.start()
    await _requests(writer, 40)
    flaky.down = True
    await _requests(writer, 60, start=40)
    for _ in range(100):
        if flaky.failed >= 2:
            break
        await _sleep()
    assert flaky.failed >= 2
    assert writer.lag > 0
    flaky.down = False
    await _requests(writer, 20, start=100)
    await writer.stop()
    sink = SqliteSink(str(tmp_path / "audit.db"))
    await sink.open()
    rows = await sink.query(AuditFilter(limit=10_000))
    assert [r.data["request_id"] for r in rows] == [f"req_{n:06d}" for n in range(120)]
    assert (await verify_sink(sink)).ok
    await sink.close()


async def test_restart_continues_the_chain_from_the_spool(tmp_path: Path) -> None:
    for round_ in range(2):
        writer = make_writer(tmp_path, [SqliteSink(str(tmp_path / "audit.db"))])
        await writer.start()
        await _requests(writer, 10, start=round_ * 10)
        await writer.stop()
    sink = SqliteSink(str(tmp_path / "audit.db"))
    await sink.open()
    report = await verify_sink(sink)
    assert report.ok, report.first_problem
    assert report.chains[0].records == 20
    await sink.close()


async def test_filters_select_by_team_key_decision_and_finding(tmp_path: Path) -> None:
    from tests.unit.audit.helpers import FakeIdentity, finding

    writer = make_writer(tmp_path, [SqliteSink(str(tmp_path / "audit.db"))])
    await writer.start()
    writer.submit(make_exchange(1), make_outcome())
    other = make_exchange(2, identity=FakeIdentity(team="sales", credential_id="vk_other"))
    other.findings.append(finding("prompt_injection"))
    writer.submit(other, make_outcome(400, decided_by="input_guard", error_code="blocked"))
    await writer.stop()
    sink = SqliteSink(str(tmp_path / "audit.db"))
    await sink.open()

    async def ids(**kw: Any) -> list[str]:
        return [e.data["request_id"] for e in await sink.query(AuditFilter(**kw))]

    assert await ids(team="sales") == ["req_000002"]
    assert await ids(key="vk_pub123") == ["req_000001"]
    assert await ids(decision="deny") == ["req_000002"]
    assert await ids(finding="prompt_injection") == ["req_000002"]
    assert await ids(finding="pii") == []
    assert len(await sink.query(AuditFilter(include_checkpoints=True))) == 3
    await sink.close()


async def test_retention_purges_old_records(tmp_path: Path) -> None:
    sink = SqliteSink(str(tmp_path / "audit.db"))
    writer = make_writer(tmp_path, [sink])
    await writer.start()
    await _requests(writer, 5)
    await writer.stop()
    check = SqliteSink(str(tmp_path / "audit.db"))
    await check.open()
    assert await check.purge(before=0.0) == 0
    assert await check.purge(before=4_000_000_000.0) == 6
    await check.close()


@pytest.mark.parametrize("count", [1, 3])
async def test_spool_is_trimmed_once_every_sink_has_the_records(tmp_path: Path, count: int) -> None:
    writer = make_writer(
        tmp_path,
        [SqliteSink(str(tmp_path / f"audit{i}.db")) for i in range(count)],
        spool={"directory": str(tmp_path / "spool"), "fsync": "never", "segment_bytes": 4096},
    )
    await writer.start()
    await _requests(writer, 100)
    await writer.stop()
    assert len(list((tmp_path / "spool" / "test-chain").glob("spool-*.log"))) == 1


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.02)
