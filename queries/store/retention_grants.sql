-- Retention: one batch of connect grants withdrawn before the cutoff (index grants_removed).
-- A grant still observed has removed_at NULL and stays.
DELETE FROM grants WHERE rowid IN (
    SELECT rowid FROM grants WHERE removed_at < :cutoff LIMIT :batch
)
