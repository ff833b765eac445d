-- Retention: one batch of access-change events older than the cutoff
-- (index access_change_events_time).
DELETE FROM access_change_events WHERE rowid IN (
    SELECT rowid FROM access_change_events WHERE event_time < :cutoff LIMIT :batch
)
