-- Vallum storage, PostgreSQL. Runs with search_path set to the namespace's schema.
CREATE TABLE counters (
    key TEXT PRIMARY KEY,
    bucket BIGINT NOT NULL,
    prev BIGINT NOT NULL,
    curr BIGINT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX counters_expires_at ON counters (expires_at);
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL,
    expires_at DOUBLE PRECISION
);
CREATE INDEX kv_expires_at ON kv (expires_at);
CREATE TABLE log_seq (
    stream TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);
CREATE TABLE log (
    stream TEXT NOT NULL,
    seq BIGINT NOT NULL,
    record BYTEA NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (stream, seq)
);
