-- A target's login roles not dropped.
SELECT rolname FROM db_roles WHERE target = ? AND dropped_at IS NULL
