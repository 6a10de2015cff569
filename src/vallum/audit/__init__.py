"""The audit trail: records built off the request path, chained, spooled, shipped to sinks.

See docs/audit.md. Modules: ``record`` (what a call leaves behind), ``chain`` (hash chain
and signed checkpoints), ``spool`` (local append-only files), ``writer`` (queue, batching,
replay), ``sinks`` (SQLite, PostgreSQL, JSON Lines), ``verify`` (tamper detection).
"""
