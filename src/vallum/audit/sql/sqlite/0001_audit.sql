-- The audit trail: one row per chained record; indexed columns mirror the record JSON.
CREATE TABLE IF NOT EXISTS audit_records (
    chain TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    request_id TEXT,
    key_id TEXT,
    principal TEXT,
    team TEXT,
    decision TEXT,
    status INTEGER,
    model TEXT,
    route TEXT,
    findings TEXT,
    record TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX IF NOT EXISTS audit_records_at ON audit_records (at);
CREATE INDEX IF NOT EXISTS audit_records_key ON audit_records (key_id, at);
CREATE INDEX IF NOT EXISTS audit_records_team ON audit_records (team, at);
CREATE INDEX IF NOT EXISTS audit_records_decision ON audit_records (decision, at);
CREATE INDEX IF NOT EXISTS audit_records_request ON audit_records (request_id);
