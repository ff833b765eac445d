-- pgwarden_findings_open: open findings by detector and severity (findings_status index).
SELECT detector, severity, count(*) FROM findings WHERE status = 'open'
GROUP BY detector, severity ORDER BY detector, severity
