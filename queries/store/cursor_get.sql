-- A source's watermark for one key, JSON.
SELECT value FROM cursors WHERE source = ? AND key = ?
