-- Findings, worst and newest first; the columns are FINDING_COLUMNS, in order.
SELECT fingerprint, detector, severity, status, title, subject, first_seen, last_seen, count
FROM findings
WHERE (:status IS NULL OR status = :status) AND (:detector IS NULL OR detector = :detector)
ORDER BY
    CASE severity
        WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4
    END,
    last_seen DESC
