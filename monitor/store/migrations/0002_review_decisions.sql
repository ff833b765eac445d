-- Schema 2: what access reviewers decided (pgwarden report apply-decisions).
-- kind 'db_user': target + db_user; kind 'principal': principal_arn. A keep also becomes a
-- suppression of the subject's unused findings; a revoke is checked every detector pass
-- (detector revoked-access-present) until the access is gone.
CREATE TABLE review_decisions (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,    -- db_user | principal
    target          TEXT NOT NULL DEFAULT '',
    db_user         TEXT NOT NULL DEFAULT '',
    principal_arn   TEXT NOT NULL DEFAULT '',
    decision        TEXT NOT NULL,    -- keep | revoke
    reviewer        TEXT NOT NULL,
    notes           TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL,    -- file name and line the decision came from
    decided_at      TEXT NOT NULL,
    keep_until      TEXT,             -- keep: when its suppression lapses
    -- One standing decision per subject: a later one replaces it.
    UNIQUE (kind, target, db_user, principal_arn)
);
CREATE INDEX review_decisions_decision ON review_decisions (decision);
