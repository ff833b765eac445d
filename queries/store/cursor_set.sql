-- Move a watermark; it commits with the data it covers.
INSERT INTO cursors (source, key, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (source, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
