-- A finding its detector no longer returns.
UPDATE findings SET status = 'resolved', resolved_at = ? WHERE fingerprint = ?
