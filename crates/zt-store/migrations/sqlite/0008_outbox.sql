-- Transactional outbox for the province's shared systems: a row is written in
-- the same transaction as the change it reports, and a worker delivers it
-- later, in per-aggregate order, retrying the identical content until the
-- counterpart acknowledges it. The payload is sealed (it names the
-- applicant's identity number).
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- gxpt | eseal
    counterpart TEXT NOT NULL,
    -- case_event | …
    kind TEXT NOT NULL,
    -- The case number: order is kept per aggregate.
    aggregate TEXT NOT NULL,
    seq BIGINT NOT NULL,
    -- Beijing date of the event, for reconciliation.
    event_date TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- SM3 of the canonical record, as the counterpart computes it.
    content_sm3 TEXT NOT NULL,
    -- pending | delivered | failed (refused: needs an operator)
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    receipt TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    UNIQUE (counterpart, aggregate, seq)
);
CREATE INDEX outbox_due ON outbox(counterpart, status, next_attempt_at);
CREATE INDEX outbox_date ON outbox(counterpart, event_date);
