-- Scratch tables for one access-review report, on the report's own connection (TEMP: they
-- vanish with it, and a read-only connection may create them).
DROP TABLE IF EXISTS temp.report_sessions;
DROP TABLE IF EXISTS temp.report_use;
CREATE TEMP TABLE report_sessions (
    target   TEXT NOT NULL,
    db_user  TEXT NOT NULL,
    started  TEXT NOT NULL,   -- clipped to the period's start
    client   TEXT,             -- the client's address, or "via proxy <name>"
    app      TEXT,
    proxy    TEXT              -- the proxy whose own log recorded the login
);
-- First and last sign of use before the period's end, per target and db user.
CREATE TEMP TABLE report_use (
    target   TEXT NOT NULL,
    db_user  TEXT NOT NULL,
    first    TEXT,
    last     TEXT,
    last_login TEXT,
    PRIMARY KEY (target, db_user)
);
-- What the report recommends revoking, for the IAM half of the revocation plan.
DROP TABLE IF EXISTS temp.report_revoke_users;
DROP TABLE IF EXISTS temp.report_revoke_principals;
CREATE TEMP TABLE report_revoke_users (
    target   TEXT NOT NULL,
    db_user  TEXT NOT NULL,
    reason   TEXT NOT NULL,
    PRIMARY KEY (target, db_user)
);
CREATE TEMP TABLE report_revoke_principals (
    principal_arn TEXT PRIMARY KEY,
    reason   TEXT NOT NULL
);
