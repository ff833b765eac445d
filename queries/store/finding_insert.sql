-- A finding seen for the first time.
INSERT INTO findings (
    fingerprint, detector, subject, severity, title, status, first_seen, last_seen, count,
    evidence, details, last_alerted_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
