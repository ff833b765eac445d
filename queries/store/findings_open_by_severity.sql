-- How many findings are open, by severity.
SELECT severity, count(*) FROM findings WHERE status = 'open' GROUP BY severity
