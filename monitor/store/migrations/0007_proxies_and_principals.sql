-- Schema 7: RDS Proxies and the databases they front (monitor/store/proxies.py), and where
-- an auth event's facts come from: the proxy whose log wrote it, and the reason code and
-- caller an iam-db-auth-error line states (monitor/models.py AuthEvent).
ALTER TABLE auth_events ADD COLUMN proxy TEXT;
ALTER TABLE auth_events ADD COLUMN reason_code TEXT;
ALTER TABLE auth_events ADD COLUMN caller_arn TEXT;

CREATE TABLE proxies (
    account_id      TEXT NOT NULL,
    region          TEXT NOT NULL,
    name            TEXT NOT NULL,
    arn             TEXT NOT NULL,
    engine_family   TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    require_tls     INTEGER NOT NULL,
    debug_logging   INTEGER NOT NULL,
    auth            TEXT NOT NULL DEFAULT '[]',   -- JSON list of ProxyAuth
    fronts          TEXT NOT NULL DEFAULT '[]',   -- JSON list of target names
    endpoints       TEXT NOT NULL DEFAULT '[]',   -- JSON list of extra endpoints
    networks        TEXT NOT NULL DEFAULT '[]',   -- JSON list of subnet CIDRs
    seen_at         TEXT NOT NULL,
    PRIMARY KEY (account_id, region, name)
);
