-- A session the poll no longer sees.
UPDATE sessions SET ended_at = ? WHERE id = ?
