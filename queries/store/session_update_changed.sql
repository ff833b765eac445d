-- A known session whose state changed since the last poll.
UPDATE sessions SET application_name = ?, last_state = ?, last_wait_event_type = ?,
    last_xact_start = ?, last_query_start = ?, last_state_change = ?,
    last_query = COALESCE(?, last_query)
WHERE id = ?
