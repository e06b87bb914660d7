-- Electronic licences (电子证照). A licence is decided in the transaction
-- that completes its case (status pending_seal, with an outbox message for
-- the e-seal service); the sealed document is stored, after its signature
-- was verified against the configured CA, by the outbox worker.

-- The seal (印章编码, 14 digits) a department's licences are sealed with.
-- Read at every sealing attempt, so correcting it releases waiting licences.
ALTER TABLE departments ADD COLUMN seal_code TEXT;

CREATE TABLE licences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    licence_no TEXT NOT NULL UNIQUE,
    case_id BIGINT NOT NULL UNIQUE REFERENCES cases(id),
    case_no TEXT NOT NULL,
    -- The applicant's account: who may download it.
    holder_user_id BIGINT NOT NULL REFERENCES users(id),
    -- What is printed, sealed JSON (it names the holder).
    content TEXT NOT NULL,
    -- pending_seal | issued | revoked
    status TEXT NOT NULL,
    issue_date TEXT NOT NULL,
    -- Last day of validity; NULL: long term.
    valid_until TEXT,
    -- The sealed document in the file store, its SM3 and size.
    file_key TEXT,
    document_sm3 TEXT,
    document_bytes BIGINT,
    seal_code TEXT,
    signature_id TEXT,
    signed_at TEXT,
    cert_serial_hex TEXT,
    created_at TEXT NOT NULL,
    issued_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX licences_holder ON licences(holder_user_id);
