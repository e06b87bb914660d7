-- Two-factor authentication (GB/T 22239 身份鉴别: administrators combine two
-- or more techniques). The TOTP secret is sealed by the application with the
-- personal-information keys; recovery codes are kept as SM3 fingerprints.
CREATE TABLE user_totp (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    secret TEXT NOT NULL,
    -- NULL while enrolment waits for the first code.
    confirmed_at TEXT,
    -- The last accepted time step: a code is never accepted twice.
    last_step BIGINT,
    created_at TEXT NOT NULL
);

CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- When the session's second factor was given (NULL: not yet).
ALTER TABLE sessions ADD COLUMN second_factor_at TEXT;
