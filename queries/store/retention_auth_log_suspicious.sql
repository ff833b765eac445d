-- Retention: one batch of suspicious log entries whose own time is older than the cutoff
-- (index auth_log_suspicious_time). `time` is the column log-injection judges by, and it
-- comes from the part of the line a client cannot choose.
DELETE FROM auth_log_suspicious WHERE rowid IN (
    SELECT rowid FROM auth_log_suspicious WHERE time < :cutoff LIMIT :batch
)
