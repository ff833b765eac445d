-- A login role the target no longer lists.
UPDATE db_roles SET dropped_at = ? WHERE target = ? AND rolname = ?
