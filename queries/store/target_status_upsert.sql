-- The outcome of a poll; last_ok_at keeps the last good one.
INSERT INTO target_status (target, status, reason, polled_at, duration_ms, row_count, last_ok_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (target) DO UPDATE SET status = excluded.status, reason = excluded.reason,
    polled_at = excluded.polled_at, duration_ms = excluded.duration_ms,
    row_count = excluded.row_count,
    last_ok_at = COALESCE(excluded.last_ok_at, target_status.last_ok_at)
