-- Log entries refused as evidence because a client could have forged them (issue 17,
-- DESIGN.md "Evidence integrity"): a user or database name that holds a log_line_prefix,
-- a newline, or a message that disagrees with its own prefix. time, client_host and
-- client_port come from what the client could not choose; line is the raw entry, kept
-- for the evidence and escaped wherever it is shown. One row per entry (dedup_key).
CREATE TABLE auth_log_suspicious (
    id              INTEGER PRIMARY KEY,
    target          TEXT,
    source          TEXT NOT NULL,
    time            TEXT NOT NULL,
    client_host     TEXT,
    client_port     INTEGER,
    reason          TEXT NOT NULL,
    line            TEXT NOT NULL,
    seen_at         TEXT NOT NULL,
    dedup_key       TEXT NOT NULL UNIQUE
);
CREATE INDEX auth_log_suspicious_time ON auth_log_suspicious (time);
