"""Builders for audit tests: exchanges, outcomes and a writer on temporary folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vallum.audit.chain import Signer
from vallum.audit.config import AuditSettings
from vallum.audit.record import RecordBuilder
from vallum.audit.sinks.base import AuditSink
from vallum.audit.spool import Spool
from vallum.audit.writer import AuditWriter
from vallum.clock import Clock, SystemClock
from vallum.pipeline.exchange import (
    Endpoint,
    Exchange,
    Finding,
    NormalizedRequest,
    Source,
    TextPart,
    Usage,
    WireFormat,
)
from vallum.pipeline.layer import Outcome


@dataclass(frozen=True)
class FakeIdentity:
    principal_id: str = "user-7"
    kind: str = "key"
    method: str = "api_key"
    credential_id: str = "vk_pub123"
    team: str | None = "research"
    roles: frozenset[str] = frozenset({"caller"})
    scopes: frozenset[str] = frozenset({"chat"})


def make_exchange(n: int = 0, **overrides: Any) -> Exchange:
    request = NormalizedRequest(
        endpoint=Endpoint.CHAT,
        wire=WireFormat.OPENAI,
        model="gpt-echo",
        stream=False,
        body={},
        parts=[TextPart(f"hello {n}", Source.USER, ("messages", 0, "content"))],
    )
    exchange = Exchange(
        request_id=f"req_{n:06d}",
        method="POST",
        path="/v1/chat/completions",
        client_ip="10.0.0.1",
        headers={"authorization": "Bearer sk-proj-SECRETSECRETSECRET0000", "x-api-key": "k"},
        started=0.0,
        endpoint=Endpoint.CHAT,
        request=request,
        identity=FakeIdentity(),
        provider="local-openai",
        served_model="gpt-echo",
        served_route="gpt-echo",
        usage=Usage(3, 5),
        status=200,
        layer_timings={"validate": 0.00002},
    )
    for key, value in overrides.items():
        setattr(exchange, key, value)
    return exchange


def make_outcome(status: int = 200, **overrides: Any) -> Outcome:
    values: dict[str, Any] = {
        "status": status,
        "error_code": None,
        "decided_by": None,
        "duration": 0.012,
    }
    values.update(overrides)
    return Outcome(**values)


def finding(kind: str = "pii") -> Finding:
    return Finding(layer="input_guard", kind=kind, score=0.9, detail="len=16 sha=abcd")


def make_writer(
    tmp: Path,
    sinks: list[AuditSink],
    *,
    signer: Signer | None = None,
    clock: Clock | None = None,
    chain: str = "test-chain",
    **settings: Any,
) -> AuditWriter:
    config = AuditSettings.model_validate(
        {"spool": {"directory": str(tmp / "spool"), "fsync": "never"}, **settings}
    )
    clock = clock or SystemClock()
    spool, _ = Spool.claim(
        Path(config.spool.directory),
        chain,
        fsync=config.spool.fsync,
        fsync_interval=config.spool.fsync_interval,
        segment_bytes=config.spool.segment_bytes,
        clock=clock,
    )
    builder = RecordBuilder(instance_id="inst-1", hash_key=b"k" * 32, capture_text=False)
    return AuditWriter(
        config,
        spool=spool,
        chain=chain,
        sinks=sinks,
        builder=builder,
        signer=signer,
        clock=clock,
    )
