-- 找回账号 (issue 6): accounts migrated from V1.0 have no usable password.
-- A person names the account by name, identity number and mobile number;
-- a code goes to that mobile number, and with it a new password is set.
-- Only digests of the ticket (held by the client) and of the code are kept.
CREATE TABLE account_recoveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    ticket_sm3 TEXT NOT NULL UNIQUE,
    code_sm3 TEXT NOT NULL,
    mobile_bidx TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX account_recoveries_mobile ON account_recoveries(mobile_bidx, created_at);
