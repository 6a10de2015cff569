"""``audit``: one tamper-evident record per call, plus the metrics, traces and JSON logs.

``on_complete`` only enqueues (no I/O, no hashing); the audit writer does the rest.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from vallum.audit.chain import Signer
from vallum.audit.config import AuditSettings
from vallum.audit.record import RecordBuilder
from vallum.audit.sinks import open_sink
from vallum.audit.spool import Spool
from vallum.audit.writer import AuditWriter
from vallum.errors import ConfigError
from vallum.observability.logging import JsonLogging
from vallum.observability.metrics import GatewayMetrics, metrics_render
from vallum.pipeline.exchange import Exchange
from vallum.pipeline.layer import Layer, LayerConfig, LayerContext, Outcome

__all__ = ["Audit", "AuditConfig"]

log = logging.getLogger("vallum.audit")


class AuditConfig(AuditSettings, LayerConfig):
    type: Literal["audit"] = "audit"
    on_error: Literal["closed", "open"] = Field(
        "open", description="The audit layer never refuses a call; failures are spooled."
    )
    metrics: bool = Field(True, description="Keep Prometheus metrics and serve them on /metrics.")
    metrics_team_label: bool = Field(True, description="Label request and token metrics by team.")
    tracing: bool = Field(
        False, description="Emit OpenTelemetry spans (needs pip install 'vallum[otel]')."
    )
    log_format: Literal["json", "keep"] = Field(
        "json", description="json: scrubbed JSON lines on stderr; keep: leave logging alone."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Root log level when log_format is json."
    )


class Audit(Layer[AuditConfig]):
    """Records every call durably; serves metrics; optionally traces."""

    name: ClassVar[str] = "audit"
    Config: ClassVar[type[LayerConfig]] = AuditConfig
    needs_body: ClassVar[bool] = False
    # read once by the forwarder: keep each response's completion text for the record
    wants_completion: ClassVar[bool] = True

    def __init__(self, config: AuditConfig, context: LayerContext) -> None:
        super().__init__(config, context)
        self.writer: AuditWriter | None = None
        self.metrics = (
            GatewayMetrics(team_label=config.metrics_team_label) if config.metrics else None
        )
        self.tracer: Any = None
        if config.tracing:
            from vallum.observability.tracing import Tracer

            self.tracer = Tracer()
        self._logging: JsonLogging | None = None

    async def start(self) -> None:
        config = self.config
        if config.log_format == "json":
            self._logging = JsonLogging(config.log_level)
        gateway = self.context.gateway
        instance = config.chain_id or getattr(gateway, "instance_id", None) or socket.gethostname()
        signer = (
            Signer.from_file(config.signing_key_file, create=config.create_signing_key)
            if config.signing_key_file
            else None
        )
        spool, folder = Spool.claim(
            Path(config.spool.directory),
            instance,
            fsync=config.spool.fsync,
            fsync_interval=config.spool.fsync_interval,
            segment_bytes=config.spool.segment_bytes,
            clock=self.context.clock,
        )
        builder = RecordBuilder(
            instance_id=str(instance),
            hash_key=_hash_key(config, signer),
            capture_text=config.capture_text,
        )
        self.writer = AuditWriter(
            config,
            spool=spool,
            chain=_chain_name(spool.folder, folder),
            sinks=[open_sink(sink) for sink in config.sinks],
            builder=builder,
            signer=signer,
            clock=self.context.clock,
            observer=self._observe if self.metrics or self.tracer else None,
        )
        await self.writer.start()
        if self.metrics is not None and gateway is not None:
            self._add_audit_gauges(self.metrics, self.writer)
            gateway.metrics = self.metrics
            gateway.metrics_render = lambda: metrics_render(gateway)

    async def stop(self) -> None:
        if self.writer is not None:
            await self.writer.stop()
            self.writer = None
        if self._logging is not None:
            self._logging.close()
            self._logging = None

    async def on_complete(self, exchange: Exchange, outcome: Outcome) -> None:
        writer = self.writer
        if writer is not None:
            writer.submit(exchange, outcome)
        else:
            log.error("audit record after stop", extra={"request_id": exchange.request_id})

    def _observe(self, exchange: Exchange, outcome: Outcome, at: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(exchange, outcome)
        if self.tracer is not None:
            self.tracer.record(exchange, outcome, at)

    @staticmethod
    def _add_audit_gauges(metrics: GatewayMetrics, writer: AuditWriter) -> None:
        metrics.add_gauge(
            "vallum_audit_queue_depth",
            "Calls waiting to be spooled.",
            (),
            lambda: [((), float(len(writer.queue)))],
        )
        metrics.add_gauge(
            "vallum_audit_spool_bytes",
            "Bytes in the local spool.",
            (),
            lambda: [((), float(writer.spool.size_bytes))],
        )
        metrics.add_gauge(
            "vallum_audit_lag_records",
            "Records spooled but not yet in every sink.",
            (),
            lambda: [((), float(writer.lag))],
        )
        metrics.add_gauge(
            "vallum_audit_records_total",
            "Records written to the spool since start.",
            (),
            lambda: [((), float(writer.records_written))],
        )
        metrics.add_gauge(
            "vallum_audit_write_failures_total",
            "Failed spool or sink writes since start.",
            (),
            lambda: [((), float(writer.write_failures))],
        )
        metrics.add_gauge(
            "vallum_audit_sink_up",
            "1 when the sink's last write succeeded.",
            ("sink",),
            lambda: [((s.sink.name,), 1.0 if s.healthy else 0.0) for s in writer.states],
        )


def _hash_key(config: AuditConfig, signer: Signer | None) -> bytes:
    if config.hash_key_env:
        value = os.environ.get(config.hash_key_env)
        if not value:
            raise ConfigError(f"audit hash_key_env: {config.hash_key_env} is not set")
        return value.encode()
    if signer is not None:
        return signer.hash_key()
    log.warning("audit: no signing key or hash key; prompt hashes use a per-process key")
    return secrets.token_bytes(32)


def _chain_name(folder: Path, base: str) -> str:
    """The chain id, kept in the spool folder; a fresh spool starts a fresh chain."""
    file = folder / "chain"
    if file.exists():
        return file.read_text(encoding="utf-8").strip()
    name = f"{base}.{secrets.token_hex(3)}"
    file.write_text(name + "\n", encoding="utf-8")
    return name
