-- The database-side client addresses of the period's sessions (monitor/store/reports.py
-- marks those inside a fronting proxy's subnets "via proxy <name>").
SELECT DISTINCT target, client FROM report_sessions WHERE client IS NOT NULL AND proxy IS NULL
