"""The audit layer in a real gateway: every request leaves a record, /metrics, no secrets."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import ServerThread
from vallum.audit.query import AuditFilter
from vallum.audit.sinks.sqlite import SqliteSink
from vallum.audit.verify import verify_sink
from vallum.config import build_config
from vallum.errors import ConfigError
from vallum.gateway import Gateway
from vallum.layers.audit import Audit, AuditConfig
from vallum.proxy.app import GatewayApp

SECRET = "sk-proj-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE"


def _config(tmp_path: Path, **audit: Any) -> dict[str, Any]:
    layer = {
        "type": "audit",
        "sinks": [{"type": "sqlite", "path": str(tmp_path / "audit.db")}],
        "spool": {"directory": str(tmp_path / "spool")},
        "signing_key_file": str(tmp_path / "audit.key"),
        "create_signing_key": True,
        "log_format": "keep",
        **audit,
    }
    return {
        "storage": {"url": "memory://", "counters_url": "memory://"},
        "providers": [{"name": "mock", "type": "mock"}],
        "models": [{"name": "mock-echo", "provider": "mock"}],
        "layers": [{"type": "validate"}, layer],
    }


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - loopback
    request.add_header("content-type", "application/json")
    request.add_header("authorization", f"Bearer {SECRET}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 - loopback
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_every_request_gets_one_record_and_none_holds_a_secret(tmp_path: Path) -> None:
    gateway = Gateway(build_config(_config(tmp_path)))
    chat = b'{"model": "mock-echo", "messages": [{"role": "user", "content": "top secret plan"}]}'
    with ServerThread(GatewayApp(gateway)) as server:
        statuses = [
            _post(f"{server.url}/v1/chat/completions", chat),
            _post(f"{server.url}/v1/nowhere?api_key={SECRET}", b"{}"),
            _post(f"{server.url}/v1/chat/completions", b"{not json"),
            _post(f"{server.url}/v1/chat/completions", chat[:-1] + b', "bogus": 1}'),
        ]
        writer = next(lay for lay in gateway.pipeline.layers if isinstance(lay, Audit)).writer
        assert writer is not None
        deadline = time.monotonic() + 10
        while writer.records_written < len(statuses) and time.monotonic() < deadline:
            time.sleep(0.01)  # metrics are observed by the writer, every flush_interval
        metrics = gateway.metrics_render()  # type: ignore[attr-defined]
    assert statuses == [200, 404, 400, 400]

    async def read() -> tuple[list[Any], bool]:
        sink = SqliteSink(str(tmp_path / "audit.db"))
        await sink.open()
        rows = await sink.query(AuditFilter(limit=100))
        from vallum.audit.chain import load_public_key

        report = await verify_sink(sink, load_public_key(str(tmp_path / "audit.key.pub")))
        await sink.close()
        return rows, report.ok and report.chains[0].signed_checkpoints >= 1

    rows, verified = asyncio.run(read())
    assert verified
    assert [r.data["status"] for r in rows] == statuses
    assert [r.data["decision"] for r in rows] == ["allow", "reject", "reject", "deny"]
    assert rows[3].data["decided_by"] == "validate"
    assert rows[0].data["tokens"]["in"] > 0
    stored = (tmp_path / "audit.db").read_bytes() + b"".join(
        p.read_bytes() for p in (tmp_path / "spool").rglob("spool-*.log")
    )
    assert SECRET.encode() not in stored
    assert SECRET[8:20].encode() not in stored
    assert b"top secret plan" not in stored
    text = metrics.decode()
    assert (
        'vallum_requests_total{route="/v1/chat/completions",model="mock-echo",decision="allow"'
        in text
    )
    assert 'vallum_layer_duration_seconds_count{layer="validate"}' in text
    assert re.search(r"^vallum_audit_queue_depth \d+$", text, re.M)
    assert re.search(r"^vallum_audit_spool_bytes \d+$", text, re.M)
    assert SECRET not in text


def test_config_is_strict() -> None:
    with pytest.raises(ConfigError):
        build_config({"layers": [{"type": "audit", "sinks": [{"type": "sqlite", "bogus": 1}]}]})
    assert AuditConfig().on_error == "open"
    assert Audit.name == "audit"


async def test_on_complete_only_enqueues(tmp_path: Path) -> None:
    from tests.unit.audit.helpers import make_exchange, make_outcome
    from vallum.clock import FakeClock
    from vallum.pipeline.layer import LayerContext

    config = AuditConfig.model_validate(_config(tmp_path)["layers"][1])
    layer = Audit(config, LayerContext(clock=FakeClock(), gateway=None))
    await layer.start()
    assert layer.writer is not None
    layer.writer._spooler.cancel()  # type: ignore[union-attr]  # freeze the background writer
    await layer.on_complete(make_exchange(1), make_outcome())
    assert len(layer.writer.queue) == 1
    assert layer.writer.records_written == 0
    layer.writer._spooler = None
    await layer.stop()
    sink = SqliteSink(str(tmp_path / "audit.db"))
    await sink.open()
    assert [e.data["request_id"] for e in await sink.query(AuditFilter())] == ["req_000001"]
    await sink.close()
