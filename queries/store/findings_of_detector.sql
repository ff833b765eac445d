-- What a detector's last passes left in the store, to compare this pass with.
SELECT fingerprint, status, severity, last_alerted_at FROM findings WHERE detector = ?
