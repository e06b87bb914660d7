-- Migration of V1.0's history (issue 6, docs/design/migration-v1.md). Every
-- V1 row ends with exactly one provenance record keyed by its V1 primary key:
-- a v1_* table or a v1_*_id column with a unique index. These keys make a
-- second run write nothing, let a resumed run skip what is done, and give the
-- report its counts. Personal information here is sealed by the application
-- like everywhere else.

-- Organisations that no longer exist stay, inactive, because history names them.
ALTER TABLE departments ADD COLUMN active BIGINT NOT NULL DEFAULT 1;
ALTER TABLE departments ADD COLUMN successor_id BIGINT REFERENCES departments(id);

-- 'v2' | 'v1'; the precision of a V1 case's submitted_at/created_at
-- (second | minute | day; NULL: exact).
ALTER TABLE cases ADD COLUMN origin TEXT NOT NULL DEFAULT 'v2';
ALTER TABLE cases ADD COLUMN filed_precision TEXT;

-- 'v2' | 'v1' (an approval-log row) | 'v1_derived' (a step V1 did not log).
ALTER TABLE case_events ADD COLUMN origin TEXT NOT NULL DEFAULT 'v2';
ALTER TABLE case_events ADD COLUMN v1_log_id BIGINT;
CREATE UNIQUE INDEX case_events_v1_log ON case_events(v1_log_id);

ALTER TABLE case_materials ADD COLUMN v1_material_id BIGINT;
CREATE UNIQUE INDEX case_materials_v1 ON case_materials(v1_material_id);

ALTER TABLE licences ADD COLUMN origin TEXT NOT NULL DEFAULT 'v2';
ALTER TABLE licences ADD COLUMN v1_license_id BIGINT;
CREATE UNIQUE INDEX licences_v1 ON licences(v1_license_id);

-- web | mobile | sms | window_device (V1's evaluation channel); NULL for V2.
ALTER TABLE ratings ADD COLUMN channel TEXT;
ALTER TABLE ratings ADD COLUMN v1_eval_id BIGINT;
CREATE UNIQUE INDEX ratings_v1 ON ratings(v1_eval_id);

CREATE TABLE v1_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    -- running | completed | failed
    status TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    source_fingerprint TEXT NOT NULL,
    options TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    report TEXT
);

-- One row per phase: how far it got. Written in the transaction of the batch
-- it describes, so a kill leaves the data and the checkpoint in step.
CREATE TABLE v1_checkpoints (
    phase TEXT PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES v1_runs(id),
    last_key TEXT NOT NULL,
    rows_done BIGINT NOT NULL DEFAULT 0,
    done BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE v1_departments (
    dept_id BIGINT PRIMARY KEY,
    department_id BIGINT NOT NULL REFERENCES departments(id),
    parent_id BIGINT,
    ancestors TEXT,
    org_uscc TEXT,
    order_num BIGINT,
    leader TEXT,
    status TEXT,
    del_flag TEXT,
    create_time TEXT,
    update_time TEXT,
    remark TEXT
);

CREATE TABLE v1_staff (
    user_id BIGINT PRIMARY KEY,
    v2_user_id BIGINT NOT NULL REFERENCES users(id),
    login_name TEXT NOT NULL,
    dept_id BIGINT,
    post_name TEXT,
    status TEXT,
    del_flag TEXT,
    login_date TEXT,
    create_time TEXT
);

-- Every t_citizen row that migrated (the survivor of a person) or was merged
-- into another (D07). login_name is the V1 login: an alias when it is not
-- the account's username. *_v1 values as stored in V1, sealed.
CREATE TABLE v1_accounts (
    citizen_id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    -- migrated | merged
    outcome TEXT NOT NULL,
    login_name TEXT NOT NULL,
    user_type TEXT NOT NULL,
    real_name TEXT,
    registered_at TEXT,
    -- second | minute | day | unknown
    registered_precision TEXT NOT NULL,
    registered_v1 TEXT,
    id_card_v1 TEXT,
    id_card_bidx TEXT,
    mobile_v1 TEXT,
    mobile TEXT,
    mobile_bidx TEXT,
    email TEXT
);
CREATE UNIQUE INDEX v1_accounts_login ON v1_accounts(login_name);
CREATE INDEX v1_accounts_user ON v1_accounts(user_id);
CREATE INDEX v1_accounts_id_card ON v1_accounts(id_card_bidx);
CREATE INDEX v1_accounts_mobile ON v1_accounts(mobile_bidx);

CREATE TABLE v1_items (
    item_id BIGINT PRIMARY KEY,
    v2_item_id BIGINT NOT NULL REFERENCES items(id),
    item_code TEXT NOT NULL,
    v1_dept_id BIGINT,
    assigned_dept_id BIGINT NOT NULL REFERENCES departments(id),
    item_type TEXT,
    serve_type TEXT,
    promise_days BIGINT,
    legal_days BIGINT,
    fee_v1 TEXT,
    fee_amount TEXT,
    form_config TEXT,
    materials_config TEXT,
    -- json | js_literal
    materials_notation TEXT NOT NULL,
    license_name TEXT,
    status TEXT,
    review_levels BIGINT NOT NULL
);

CREATE TABLE v1_cases (
    case_id BIGINT PRIMARY KEY REFERENCES cases(id),
    apply_id BIGINT NOT NULL UNIQUE,
    citizen_id BIGINT NOT NULL,
    v1_status TEXT NOT NULL,
    -- normalised, UTC-ms, with its precision (second | minute | day)
    apply_time TEXT NOT NULL,
    apply_time_precision TEXT NOT NULL,
    -- as stored ('' and NULL kept apart)
    apply_time_v1 TEXT,
    accept_time TEXT,
    promise_date TEXT,
    official_due_date TEXT,
    due_date_differs BIGINT,
    finish_time TEXT,
    -- v1 | log (D13) | NULL
    finish_time_source TEXT,
    result_type TEXT,
    handler_user_id BIGINT REFERENCES users(id),
    -- web | window | mobile
    source_channel TEXT,
    -- sealed: free text may hold personal information
    remark TEXT,
    update_time TEXT
);

-- The file ledgers: one row per V1 material / licence, whatever its outcome.
CREATE TABLE v1_materials (
    material_id BIGINT PRIMARY KEY,
    apply_id BIGINT NOT NULL,
    case_material_id BIGINT REFERENCES case_materials(id),
    -- migrated | quarantined
    outcome TEXT NOT NULL,
    -- normalised (D18); NULL when V1 had none or it was refused
    path TEXT,
    -- the directory part of path: the D19 walk asks for one directory at a time
    dir TEXT,
    size_v1 BIGINT,
    md5_v1 TEXT,
    size BIGINT,
    md5 TEXT,
    sm3 TEXT,
    storage_key TEXT
);
CREATE INDEX v1_materials_dir ON v1_materials(dir);
CREATE INDEX v1_materials_apply ON v1_materials(apply_id);

CREATE TABLE v1_licences (
    license_id BIGINT PRIMARY KEY,
    apply_id BIGINT NOT NULL,
    licence_id BIGINT REFERENCES licences(id),
    outcome TEXT NOT NULL,
    path TEXT,
    dir TEXT,
    holder_id_card_v1 TEXT,
    issue_dept_id BIGINT,
    size BIGINT,
    sm3 TEXT,
    storage_key TEXT
);
CREATE INDEX v1_licences_dir ON v1_licences(dir);

-- Rows held back, with their V1 values sealed so that the bureau can
-- correct and release them; never deleted.
CREATE TABLE v1_quarantine (
    v1_table TEXT NOT NULL,
    v1_id BIGINT NOT NULL,
    reason TEXT NOT NULL,
    apply_id BIGINT,
    v1_values TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    quarantined_at TEXT NOT NULL,
    -- held | released
    status TEXT NOT NULL DEFAULT 'held',
    released_at TEXT,
    released_by TEXT,
    release_note TEXT,
    PRIMARY KEY (v1_table, v1_id)
);
CREATE INDEX v1_quarantine_apply ON v1_quarantine(apply_id);

-- Interpretations the report must list (README §9) and other notes.
CREATE TABLE v1_flags (
    v1_table TEXT NOT NULL,
    v1_id BIGINT NOT NULL,
    flag TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (v1_table, v1_id, flag)
);
CREATE INDEX v1_flags_flag ON v1_flags(flag);

-- D19: files in V1's store that no row references; reported, not imported.
CREATE TABLE v1_unreferenced_files (
    path TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    found_at TEXT NOT NULL
);
