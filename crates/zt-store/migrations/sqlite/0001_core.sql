-- Core schema of Zhengtong. Written once as a template; the SQLite and
-- PostgreSQL files differ only in how identity columns are declared.
-- Times are RFC 3339 UTC text with milliseconds (fixed width, so text order is
-- time order); dates are YYYY-MM-DD in Beijing time; booleans are 0/1.

CREATE TABLE departments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    region_code TEXT NOT NULL,
    parent_id BIGINT REFERENCES departments(id),
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    display_name TEXT NOT NULL,
    -- person | agent | staff | admin
    user_type TEXT NOT NULL,
    id_number TEXT,
    mobile TEXT,
    org_uscc TEXT,
    org_name TEXT,
    dept_id BIGINT REFERENCES departments(id),
    real_name_level TEXT NOT NULL DEFAULT 'L1',
    active BIGINT NOT NULL DEFAULT 1,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    password_changed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX users_dept ON users(dept_id);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    -- SM3 of the cookie value: a stolen table does not yield usable cookies.
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    impl_code TEXT NOT NULL,
    dept_id BIGINT NOT NULL REFERENCES departments(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    current_version BIGINT NOT NULL,
    -- published | withdrawn
    status TEXT NOT NULL DEFAULT 'published',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX items_dept ON items(dept_id);

CREATE TABLE item_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id BIGINT NOT NULL REFERENCES items(id),
    version BIGINT NOT NULL,
    -- The whole ItemDefinition as JSON; never updated once written.
    definition TEXT NOT NULL,
    published_at TEXT NOT NULL,
    published_by BIGINT REFERENCES users(id),
    UNIQUE (item_id, version)
);

CREATE TABLE case_no_counters (
    counter_key TEXT PRIMARY KEY,
    last_value BIGINT NOT NULL
);

CREATE TABLE cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_no TEXT NOT NULL UNIQUE,
    item_id BIGINT NOT NULL REFERENCES items(id),
    item_version BIGINT NOT NULL,
    dept_id BIGINT NOT NULL REFERENCES departments(id),
    applicant_id BIGINT NOT NULL REFERENCES users(id),
    applicant_name TEXT NOT NULL,
    -- person | organisation
    applicant_kind TEXT NOT NULL,
    org_uscc TEXT,
    org_name TEXT,
    status TEXT NOT NULL,
    accepted BIGINT NOT NULL DEFAULT 0,
    step BIGINT NOT NULL DEFAULT 0,
    signatures TEXT NOT NULL DEFAULT '[]',
    form TEXT NOT NULL,
    supplement TEXT,
    accepted_on TEXT,
    due_date TEXT,
    statutory_due_date TEXT,
    paused_days BIGINT NOT NULL DEFAULT 0,
    paused_since TEXT,
    submitted_at TEXT,
    decided_at TEXT,
    completed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- Optimistic lock: every transition increments it, and two writers that
    -- read the same version cannot both win.
    version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX cases_dept_status ON cases(dept_id, status, due_date);
CREATE INDEX cases_applicant ON cases(applicant_id, created_at);
CREATE INDEX cases_org ON cases(org_uscc);

CREATE TABLE case_materials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    material_code TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    -- SM3 of the content, checked on every download.
    digest TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    uploaded_by BIGINT NOT NULL REFERENCES users(id),
    uploaded_at TEXT NOT NULL,
    -- 1 for the file in force; replaced files stay for the record.
    is_current BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX case_materials_case ON case_materials(case_id);

CREATE TABLE case_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    seq BIGINT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor_id BIGINT REFERENCES users(id),
    actor_name TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    opinion TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    at TEXT NOT NULL,
    UNIQUE (case_id, seq)
);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    case_id BIGINT REFERENCES cases(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT
);
CREATE INDEX notifications_user ON notifications(user_id, created_at);

CREATE TABLE ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL UNIQUE REFERENCES cases(id),
    applicant_id BIGINT NOT NULL REFERENCES users(id),
    score BIGINT NOT NULL,
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE rectifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rating_id BIGINT NOT NULL UNIQUE REFERENCES ratings(id),
    case_id BIGINT NOT NULL REFERENCES cases(id),
    dept_id BIGINT NOT NULL REFERENCES departments(id),
    -- open | answered
    status TEXT NOT NULL,
    response TEXT,
    answered_by BIGINT REFERENCES users(id),
    answered_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX rectifications_dept ON rectifications(dept_id, status);

CREATE TABLE audit_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor_id BIGINT,
    actor_name TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_records_at ON audit_records(at);

CREATE TABLE calendar_years (
    year BIGINT PRIMARY KEY,
    source TEXT NOT NULL,
    imported_at TEXT NOT NULL
);

CREATE TABLE calendar_days (
    day TEXT PRIMARY KEY,
    year BIGINT NOT NULL REFERENCES calendar_years(year),
    -- holiday | workday
    kind TEXT NOT NULL
);
