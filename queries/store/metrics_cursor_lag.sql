-- pgwarden_cursor_lag_seconds: seconds since each source last moved a cursor (at :now).
SELECT source, max(0, round((julianday(:now) - julianday(max(updated_at))) * 86400, 3))
FROM cursors GROUP BY source ORDER BY source
