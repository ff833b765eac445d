-- One finding: FINDING_COLUMNS, in order, then its details JSON.
SELECT fingerprint, detector, severity, status, title, subject, first_seen, last_seen, count,
    details
FROM findings WHERE fingerprint = ?
