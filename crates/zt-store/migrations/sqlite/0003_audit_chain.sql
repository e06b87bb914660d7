-- Tamper-evident audit trail (GB/T 22239 安全审计 c, GB/T 39786 完整性).
-- Every record carries the SM3 of its predecessor and of its own content;
-- audit_head holds the chain's end and is locked by each writer, so the chain
-- has one order even with concurrent transactions. Anchors copy the head out
-- at intervals (also to a file outside the database). An archive mark lets
-- records past retention leave the table without breaking verification.
ALTER TABLE audit_records ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_records ADD COLUMN hash TEXT NOT NULL DEFAULT '';

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    last_id BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_anchors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    record_hash TEXT NOT NULL
);

CREATE TABLE audit_archives (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    through_id BIGINT NOT NULL,
    through_hash TEXT NOT NULL,
    records BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    file_sm3 TEXT NOT NULL
);

-- backend-specific below: the records refuse UPDATE (except sealing a record
-- written before the chain existed) and DELETE (except of archived records).
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
WHEN OLD.hash <> ''
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;

CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
WHEN OLD.id > (SELECT COALESCE(MAX(through_id), 0) FROM audit_archives)
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
