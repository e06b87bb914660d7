-- Integrity of access-control data (GB/T 39786): each role assignment carries
-- an HMAC-SM3 tag over (user id, role) made with a key outside the database;
-- a row added or edited directly in the database fails the check on load.
ALTER TABLE user_roles ADD COLUMN tag TEXT;
-- The assignments that exist now are tagged once by `zhengtong db migrate`
-- (the key is not available to SQL); any row without a tag that is not
-- listed here was written behind the application's back and is refused.
CREATE TABLE user_roles_untagged AS SELECT user_id, role FROM user_roles;

-- Non-repudiation of decisions: approve, deny and reject at intake are signed
-- with the platform's SM2 key over the canonical payload stored beside it.
CREATE TABLE decision_signatures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    case_no TEXT NOT NULL,
    event_seq BIGINT NOT NULL,
    decision TEXT NOT NULL,
    payload TEXT NOT NULL,
    signature TEXT NOT NULL,
    -- SM3 of the public key (hex, first 16): which key signed.
    key_id TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    UNIQUE (case_id, event_seq)
);
CREATE INDEX decision_signatures_case_no ON decision_signatures(case_no);
