"""The audit trail's settings: sinks, spool, chain signing and what a record keeps."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AuditSettings",
    "JsonlSinkConfig",
    "PostgresSinkConfig",
    "SinkConfig",
    "SpoolConfig",
    "SqliteSinkConfig",
]

_SCHEMA = r"^[A-Za-z_][A-Za-z0-9_]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqliteSinkConfig(_Strict):
    type: Literal["sqlite"] = Field("sqlite", description="Selects the SQLite sink.")
    path: str = Field(".vallum/audit.db", max_length=4096, description="SQLite database file.")


class PostgresSinkConfig(_Strict):
    type: Literal["postgres"] = Field("postgres", description="Selects the PostgreSQL sink.")
    url: str = Field(max_length=2048, description="postgresql:// URL of the audit database.")
    schema_name: str = Field(
        "vallum_audit", pattern=_SCHEMA, description="Schema holding the audit tables."
    )
    pool_size: int = Field(4, ge=1, le=64, description="Connections in the sink's pool.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not re.match(r"^postgres(ql)?://", value):
            raise ValueError("url must start with postgresql:// or postgres://")
        return value


class JsonlSinkConfig(_Strict):
    type: Literal["jsonl"] = Field("jsonl", description="Selects the JSON Lines sink.")
    directory: str = Field(
        ".vallum/audit-jsonl", max_length=4096, description="Folder of daily audit-*.jsonl files."
    )
    fsync: bool = Field(False, description="fsync each written batch (the spool already does).")


SinkConfig = Annotated[
    SqliteSinkConfig | PostgresSinkConfig | JsonlSinkConfig, Field(discriminator="type")
]


class SpoolConfig(_Strict):
    directory: str = Field(
        ".vallum/audit-spool", max_length=4096, description="Folder of the local spool files."
    )
    fsync: Literal["always", "interval", "never"] = Field(
        "interval",
        description="always: fsync every batch; interval: every fsync_interval; never: the OS.",
    )
    fsync_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between fsyncs under the interval policy."
    )
    segment_bytes: int = Field(
        16 * 1024 * 1024, ge=4096, le=1024**3, description="Size at which a new spool file starts."
    )
    max_bytes: int = Field(
        10 * 1024**3,
        ge=1024 * 1024,
        le=1024**4,
        description="Spool size above which the writer logs an alarm (records are never dropped).",
    )


def _default_sinks() -> list[SinkConfig]:
    return [SqliteSinkConfig()]


class AuditSettings(_Strict):
    """Everything the audit package needs; the ``audit`` layer's Config extends it."""

    sinks: list[SinkConfig] = Field(
        default_factory=lambda: _default_sinks(),
        min_length=1,
        max_length=8,
        description="Where records go; several at once.",
    )
    spool: SpoolConfig = Field(default_factory=SpoolConfig, description="The local spool.")
    batch_size: int = Field(500, ge=1, le=100_000, description="Most records per sink write.")
    flush_interval: float = Field(
        0.02, gt=0, le=5, description="Seconds between moves from memory to the spool."
    )
    retry_max: float = Field(
        5.0, gt=0, le=300, description="Longest back-off between sink retries, in seconds."
    )
    retention_days: float | None = Field(
        None, gt=0, le=36500, description="Delete records older than this many days (None: keep)."
    )
    checkpoint_every: int = Field(
        1000, ge=1, le=10_000_000, description="Records between signed checkpoints."
    )
    checkpoint_seconds: float = Field(
        10.0, gt=0, le=86400, description="Most seconds between checkpoints while records flow."
    )
    signing_key_file: str | None = Field(
        None, max_length=4096, description="Ed25519 private key (PEM) that signs checkpoints."
    )
    create_signing_key: bool = Field(
        False, description="Create signing_key_file (mode 0600) when it does not exist."
    )
    hash_key_env: str | None = Field(
        None,
        max_length=256,
        description="Environment variable with the key for prompt hashes (default: from the "
        "signing key; else random per process).",
    )
    capture_text: bool = Field(
        False, description="Store prompt text (as the layers left it) instead of length + hash."
    )
    chain_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="Name of this instance's chain (default: the gateway's instance id).",
    )
    drain_seconds: float = Field(
        10.0, ge=0, le=600, description="On stop, how long to wait for sinks to catch up."
    )
