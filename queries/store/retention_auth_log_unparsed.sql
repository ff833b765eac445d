-- Retention: one batch of unparsed-line counts read before the cutoff
-- (index auth_log_unparsed_seen).
DELETE FROM auth_log_unparsed WHERE rowid IN (
    SELECT rowid FROM auth_log_unparsed WHERE seen_at < :cutoff LIMIT :batch
)
