-- The last time each source moved its cursor.
SELECT source, max(updated_at) FROM cursors GROUP BY source
