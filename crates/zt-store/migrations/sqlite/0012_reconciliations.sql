-- Every reconciliation of a day's case events with gxpt (scheduled daily by
-- the server, or run by `zhengtong outbox reconcile`), kept so that
-- administrators see the results and a day left different is noticed.
CREATE TABLE reconciliations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    counterpart TEXT NOT NULL,
    -- The Beijing date reconciled.
    event_date TEXT NOT NULL,
    ran_at TEXT NOT NULL,
    local_count BIGINT NOT NULL DEFAULT 0,
    remote_count BIGINT NOT NULL DEFAULT 0,
    -- 1: count and digest equal.
    equal BIGINT NOT NULL DEFAULT 0,
    repushed BIGINT NOT NULL DEFAULT 0,
    -- JSON array of [case_no, seq] held by gxpt with other content or unknown here.
    conflicts TEXT NOT NULL DEFAULT '[]',
    pending BIGINT NOT NULL DEFAULT 0,
    -- Why the comparison could not be made (gxpt unavailable…).
    error TEXT
);
CREATE INDEX reconciliations_date ON reconciliations(counterpart, event_date);
