"""The PostgreSQL sink for real: idempotent batches, filters, verify, retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.audit.helpers import FakeIdentity, make_exchange, make_outcome, make_writer
from vallum.audit.query import AuditFilter
from vallum.audit.sinks.postgres import PostgresSink
from vallum.audit.verify import verify_sink

pytestmark = pytest.mark.postgres


async def test_postgres_sink_round_trip(
    tmp_path: Path, postgres_url: str, unique_prefix: str
) -> None:
    sink = PostgresSink(postgres_url, unique_prefix)
    writer = make_writer(tmp_path, [sink], batch_size=16)
    await writer.start()
    try:
        for n in range(50):
            identity = FakeIdentity(team="t2") if n % 10 == 0 else FakeIdentity()
            writer.submit(make_exchange(n, identity=identity), make_outcome())
        await writer.stop()
        await sink.open()
        rows = await sink.query(AuditFilter(limit=1000))
        assert [r.data["request_id"] for r in rows] == [f"req_{n:06d}" for n in range(50)]
        assert len(await sink.query(AuditFilter(team="t2"))) == 5
        await sink.write(rows[:3])  # a replay of stored records changes nothing
        assert await sink.last_seq("test-chain") == 51
        report = await verify_sink(sink)
        assert report.ok and report.chains[0].records == 50
        assert await sink.purge(before=4_000_000_000.0) == 51
    finally:
        await sink.open() if sink._pool is None else None
        await sink.drop_schema()
        await sink.close()
