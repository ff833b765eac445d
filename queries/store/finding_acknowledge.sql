-- Someone is on it: an open finding stops repeating its alert.
UPDATE findings SET status = 'acknowledged' WHERE fingerprint = ? AND status = 'open'
