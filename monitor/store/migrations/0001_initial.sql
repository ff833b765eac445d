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
-- Covering indexes for new-source's first-seen grouping (queries/store/first_seen_values.sql);
-- their columns never change after the first poll.
CREATE INDEX sessions_client ON sessions (target, usename, client_addr, first_seen);
CREATE INDEX sessions_app ON sessions (target, usename, application_name, first_seen);

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
    identity        TEXT,             -- connection_authenticated: the authenticated identity
    tls             TEXT,             -- connection_authorized: TLS protocol, NULL without SSL
    session_s       REAL,             -- disconnection: session time in seconds
    dedup_key       TEXT NOT NULL UNIQUE  -- AuthEvent.dedup_key: same event, one row
);
CREATE INDEX auth_events_user ON auth_events (target, user, kind, time);
CREATE INDEX auth_events_time ON auth_events (time);
CREATE INDEX auth_events_source ON auth_events (kind, target, user, client_host, time);

-- Log lines the parser could not read: a count per read, and the first few as samples.
CREATE TABLE auth_log_unparsed (
    id              INTEGER PRIMARY KEY,
    target          TEXT,
    source          TEXT NOT NULL,
    seen_at         TEXT NOT NULL,
    lines           INTEGER NOT NULL,
    unparsed        INTEGER NOT NULL,
    samples         TEXT NOT NULL DEFAULT '[]'  -- JSON list of the first few lines
);
CREATE INDEX auth_log_unparsed_seen ON auth_log_unparsed (seen_at);

-- AssumeRole* records into the watched roles (monitor/sources/cloudtrail.py), one per eventID.
-- external_id_present says whether an ExternalId was presented; the id itself is never kept.
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
    error_message   TEXT,
    hidden          TEXT NOT NULL DEFAULT '[]',  -- JSON: fields CloudTrail hid from this account
    ingested_at     TEXT NOT NULL
);
CREATE INDEX assume_role_events_role ON assume_role_events (role_arn, event_time);
CREATE INDEX assume_role_events_time ON assume_role_events (event_time);

-- Control-plane events that change who can get in: IAM auth toggled on a cluster or
-- instance, RDS Proxy created/changed/deleted, policy or trust changes on watched roles.
CREATE TABLE access_change_events (
    event_id        TEXT PRIMARY KEY,
    event_time      TEXT NOT NULL,
    event_source    TEXT NOT NULL,
    event_name      TEXT NOT NULL,
    recipient_account TEXT,
    aws_region      TEXT,
    principal_arn   TEXT,
    source_ip       TEXT,
    user_agent      TEXT,
    subject         TEXT,             -- cluster, instance, proxy, role, user or policy named
    iam_auth        INTEGER,          -- the new EnableIAMDatabaseAuthentication, when set
    policy_arn      TEXT,
    error_code      TEXT,
    error_message   TEXT,
    hidden          TEXT NOT NULL DEFAULT '[]',
    ingested_at     TEXT NOT NULL
);
CREATE INDEX access_change_events_time ON access_change_events (event_time);

-- Who may rds-db:connect as which db user, and through which policy statement
-- (monitor/sources/iam.py). A grant seen again keeps first_observed and moves observed_at;
-- one no longer seen gets removed_at, so both a new and a withdrawn grant show up.
CREATE TABLE grants (
    id              INTEGER PRIMARY KEY,
    account_id      TEXT NOT NULL,
    principal_arn   TEXT NOT NULL,
    principal_type  TEXT NOT NULL,    -- user | role
    via             TEXT NOT NULL,    -- "direct" or "group:<name>"
    target          TEXT,             -- target name, when the resource id is a known target
    resource_id     TEXT NOT NULL,    -- cluster-..., db-..., prx-..., or a pattern such as *
    db_user         TEXT NOT NULL,    -- a user name, or a pattern (* = any user)
    policy          TEXT NOT NULL,    -- managed policy ARN, or "inline:<name>"
    statement       TEXT NOT NULL,    -- Sid, or "#<index>" when the statement has none
    resource_pattern TEXT NOT NULL,   -- the Resource (or NotResource) entry that matched
    conditions      TEXT,             -- JSON Condition block: recorded, not evaluated
    notes           TEXT NOT NULL DEFAULT '[]',  -- JSON: conditional denies, boundaries...
    first_observed  TEXT NOT NULL,
    observed_at     TEXT NOT NULL,
    removed_at      TEXT,
    UNIQUE (principal_arn, via, resource_id, db_user, policy, statement, resource_pattern)
);
CREATE INDEX grants_target ON grants (target, db_user) WHERE removed_at IS NULL;

-- Trust policies of the roles that grant connect, and the monitor roles: who may assume
-- them. ExternalId condition values are replaced by "<redacted>" before they are stored.
CREATE TABLE role_trust (
    role_arn        TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    trust_policy    TEXT NOT NULL,    -- JSON, ExternalId values redacted
    trusted_principals TEXT NOT NULL, -- JSON list
    last_used_at    TEXT,
    last_used_region TEXT,
    first_observed  TEXT NOT NULL,
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
    slack_ts        TEXT,             -- the message's ts: repeats and resolves thread under it
    digest          INTEGER NOT NULL DEFAULT 0  -- sent folded into a digest, not on its own
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
