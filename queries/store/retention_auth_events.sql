-- Retention: one batch of auth events older than the cutoff (index auth_events_time).
DELETE FROM auth_events WHERE rowid IN (
    SELECT rowid FROM auth_events WHERE time < :cutoff LIMIT :batch
)
