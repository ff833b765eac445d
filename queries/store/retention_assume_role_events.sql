-- Retention: one batch of AssumeRole events older than the cutoff
-- (index assume_role_events_time), all but the oldest one: its time is where the trail's
-- history starts (trail_history_start.sql), which unused-role and unused-iam-grant count
-- the days they observed from. Without it, a quiet trail would read as "0 days observed".
DELETE FROM assume_role_events WHERE rowid IN (
    SELECT rowid FROM assume_role_events
    WHERE event_time < :cutoff
      AND rowid != (SELECT rowid FROM assume_role_events ORDER BY event_time, rowid LIMIT 1)
    LIMIT :batch
)
