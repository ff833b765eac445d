-- Retention: one batch of database roles dropped before the cutoff (index db_roles_dropped).
-- A role still listed has dropped_at NULL and stays.
DELETE FROM db_roles WHERE rowid IN (
    SELECT rowid FROM db_roles WHERE dropped_at < :cutoff LIMIT :batch
)
