-- Retention: one batch of sessions that ended before the cutoff (index sessions_ended);
-- an open session (ended_at NULL) is never deleted, however old.
DELETE FROM sessions WHERE rowid IN (
    SELECT rowid FROM sessions WHERE ended_at < :cutoff LIMIT :batch
)
