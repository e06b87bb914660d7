-- Personal-information rights (GB/T 35273-2020 §5 consent, §8 the subject's
-- rights): self-registration's recorded consent to a version of the privacy
-- notice, the applicant's own account closure (注销), and the anonymisation
-- of a closed account's personal information once its retention has passed
-- (`zhengtong privacy retention`). Case records themselves stay: the archives
-- rules require them.

-- One row per consent given: to which notice version, when, from where.
-- Withdrawing (closing the account) sets withdrawn_at; the row stays as proof.
CREATE TABLE consents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    notice_version TEXT NOT NULL,
    given_at TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    withdrawn_at TEXT
);
CREATE INDEX consents_user ON consents(user_id);

-- The applicant's requests to close their account and delete their data.
-- completed_at: when retention anonymised the account.
CREATE TABLE deletion_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    requested_at TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    reason TEXT,
    completed_at TEXT
);
CREATE INDEX deletion_requests_user ON deletion_requests(user_id);

-- closed_at: the account was closed by its owner (it is also inactive);
-- anonymised_at: its personal information was removed after retention.
ALTER TABLE users ADD COLUMN closed_at TEXT;
ALTER TABLE users ADD COLUMN anonymised_at TEXT;
CREATE INDEX users_closed ON users(closed_at);

-- Self-registrations take this row's lock in turn, so that the check for an
-- identity number already registered and the insert cannot interleave
-- between two registrations (PostgreSQL runs them concurrently).
CREATE TABLE registration_lock (
    id BIGINT PRIMARY KEY,
    registrations BIGINT NOT NULL
);
INSERT INTO registration_lock (id, registrations) VALUES (1, 0);
