-- A finding that still holds; last_alerted_at moves only when an alert goes out.
UPDATE findings SET severity = ?, title = ?, status = ?, last_seen = ?, count = count + 1,
    evidence = ?, details = ?, resolved_at = NULL,
    last_alerted_at = COALESCE(?, last_alerted_at)
WHERE fingerprint = ?
