-- Schema 1: every table DESIGN.md names. Times are ISO-8601 UTC text ("2026-11-23T03:00:00.000000+00:00"),
-- which sorts correctly as text and reads back with datetime.fromisoformat.

CREATE TABLE targets (
    name            TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    region          TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    endpoint_type   TEXT NOT NULL,
    port            INTEGER NOT NULL,
    database        TEXT NOT NULL,
    db_user         TEXT NOT NULL,
    cluster_id      TEXT,
    instance_id     TEXT,
    proxy_name      TEXT,
    resource_id     TEXT,             -- DbClusterResourceId / DbiResourceId / proxy id, for grants
    discovered      INTEGER NOT NULL DEFAULT 0,
    tags            TEXT NOT NULL DEFAULT '{}',
    first_seen      TEXT NOT NULL,
    last_seen       TEXT NOT NULL
);

-- One row per outcome of a poll, per target: the latest only (status history lives in metrics).
CREATE TABLE target_status (
    target          TEXT PRIMARY KEY,
    status          TEXT NOT NULL,    -- ok | error (query failed) | down (no connection)
    reason          TEXT,
    polled_at       TEXT NOT NULL,
    duration_ms     REAL,
    row_count       INTEGER,
    last_ok_at      TEXT
);

-- A pg_stat_activity session: one row per (target, pid, backend_start), not one per poll.
CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY,
    target          TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    backend_start   TEXT NOT NULL,
    usename         TEXT,
    datname         TEXT,
    client_addr     TEXT,
    client_hostname TEXT,
    client_port     INTEGER,
    application_name TEXT,
    backend_type    TEXT,
    first_seen      TEXT NOT NULL,
    last_seen       TEXT NOT NULL,
    last_state      TEXT,
    last_wait_event_type TEXT,
    last_xact_start TEXT,
    last_query_start TEXT,
    last_state_change TEXT,
    last_query      TEXT,             -- only with capture_query_text = "masked"
    seen_count      INTEGER NOT NULL DEFAULT 1,
    ended_at        TEXT,
    UNIQUE (target, pid, backend_start)
);
CREATE INDEX sessions_open ON sessions (target) WHERE ended_at IS NULL;
-- Not on last_seen: every poll moves it, and an index on it would be rewritten each time.
CREATE INDEX sessions_user ON sessions (target, usename);

-- One normalised auth/connection event per PostgreSQL log entry (DESIGN.md, "What a log line becomes").
CREATE TABLE auth_events (
    id              INTEGER PRIMARY KEY,
    target          TEXT,
    time            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    user            TEXT,
    database        TEXT,
    client_host     TEXT,
    client_port     INTEGER,
    pid             INTEGER,
    method          TEXT,
    reason          TEXT,
    application_name TEXT,
    source          TEXT NOT NULL,
    dedup_key       TEXT NOT NULL UNIQUE
);
CREATE INDEX auth_events_user ON auth_events (target, user, kind, time);
CREATE INDEX auth_events_time ON auth_events (time);

CREATE TABLE assume_role_events (
    event_id        TEXT PRIMARY KEY,
    event_time      TEXT NOT NULL,
    event_name      TEXT NOT NULL,
    recipient_account TEXT,
    source_account  TEXT,
    principal_arn   TEXT,
    principal_type  TEXT,
    session_issuer_arn TEXT,
    source_ip       TEXT,
    user_agent      TEXT,
    vpc_endpoint_id TEXT,
    role_arn        TEXT,
    role_session_name TEXT,
    external_id_present INTEGER,
    error_code      TEXT,
    error_message   TEXT
);
CREATE INDEX assume_role_events_role ON assume_role_events (role_arn, event_time);

-- Who may rds-db:connect as which db user, as observed at a time.
CREATE TABLE grants (
    id              INTEGER PRIMARY KEY,
    account_id      TEXT NOT NULL,
    principal_arn   TEXT NOT NULL,
    principal_type  TEXT NOT NULL,
    target          TEXT,
    resource_id     TEXT NOT NULL,
    db_user         TEXT NOT NULL,
    policy          TEXT NOT NULL,
    statement       TEXT NOT NULL,
    conditions      TEXT,
    observed_at     TEXT NOT NULL,
    first_observed  TEXT NOT NULL,
    UNIQUE (principal_arn, resource_id, db_user, policy)
);

CREATE TABLE role_trust (
    role_arn        TEXT PRIMARY KEY,
    trust_policy    TEXT NOT NULL,
    trusted_principals TEXT NOT NULL,  -- JSON list
    last_used_at    TEXT,
    last_used_region TEXT,
    observed_at     TEXT NOT NULL
);

-- Database roles from pg_roles / pg_auth_members.
CREATE TABLE db_roles (
    target          TEXT NOT NULL,
    rolname         TEXT NOT NULL,
    rds_iam         INTEGER NOT NULL,             -- member (transitively) of rds_iam
    superuser       INTEGER NOT NULL,             -- rolsuper
    rds_superuser   INTEGER NOT NULL DEFAULT 0,   -- member of rds_superuser
    can_login       INTEGER NOT NULL,
    valid_until     TEXT,
    member_of       TEXT NOT NULL DEFAULT '[]',  -- JSON list, sorted
    first_seen      TEXT NOT NULL,
    observed_at     TEXT NOT NULL,
    dropped_at      TEXT,                         -- first refresh it was missing from
    PRIMARY KEY (target, rolname)
);

CREATE TABLE findings (
    fingerprint     TEXT PRIMARY KEY,
    detector        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    severity        TEXT NOT NULL,
    title           TEXT NOT NULL,
    status          TEXT NOT NULL,    -- open | acknowledged | suppressed | resolved
    first_seen      TEXT NOT NULL,
    last_seen       TEXT NOT NULL,
    count           INTEGER NOT NULL DEFAULT 1,
    evidence        TEXT NOT NULL DEFAULT '[]',  -- JSON, capped
    details         TEXT NOT NULL DEFAULT '{}',  -- JSON
    resolved_at     TEXT,
    last_alerted_at TEXT
);
CREATE INDEX findings_status ON findings (status, detector);

CREATE TABLE suppressions (
    id              INTEGER PRIMARY KEY,
    detector        TEXT NOT NULL,
    subject_glob    TEXT NOT NULL,
    until           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

-- Alerts wait here until Slack accepts them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    fingerprint     TEXT NOT NULL,
    kind            TEXT NOT NULL,    -- new | repeat | resolved | digest
    payload         TEXT NOT NULL,    -- JSON
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    sent_at         TEXT,
    slack_ts        TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL;

-- Watermarks: written in the same transaction as the data they cover.
CREATE TABLE cursors (
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           TEXT NOT NULL,   -- JSON
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (source, key)
);
