"""Audit sinks: SQLite (default), PostgreSQL, JSON Lines; several at once."""

from __future__ import annotations

from vallum.audit.config import JsonlSinkConfig, PostgresSinkConfig, SinkConfig, SqliteSinkConfig
from vallum.audit.sinks.base import AuditSink, StoredRow

__all__ = ["AuditSink", "StoredRow", "open_sink"]


def open_sink(config: SinkConfig) -> AuditSink:
    """Build (not yet open) the sink a config entry names."""
    if isinstance(config, SqliteSinkConfig):
        from vallum.audit.sinks.sqlite import SqliteSink

        return SqliteSink(config.path)
    if isinstance(config, PostgresSinkConfig):
        from vallum.audit.sinks.postgres import PostgresSink

        return PostgresSink(config.url, config.schema_name, config.pool_size)
    assert isinstance(config, JsonlSinkConfig)  # noqa: S101 - the union is exhaustive
    from vallum.audit.sinks.jsonl import JsonlSink

    return JsonlSink(config.directory, fsync=config.fsync)
