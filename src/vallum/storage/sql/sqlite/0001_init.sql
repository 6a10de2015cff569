-- Vallum storage, SQLite. "{p}" is replaced by the namespace (a checked identifier).
CREATE TABLE {p}_counters (
    key TEXT PRIMARY KEY,
    bucket INTEGER NOT NULL,
    prev INTEGER NOT NULL,
    curr INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX {p}_counters_expires_at ON {p}_counters (expires_at);
CREATE TABLE {p}_kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires_at REAL
);
CREATE INDEX {p}_kv_expires_at ON {p}_kv (expires_at);
CREATE TABLE {p}_log_seq (
    stream TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE {p}_log (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record BLOB NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
