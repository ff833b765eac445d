-- Client sessions that started since :since (detector off-hours).
SELECT target, usename, client_addr, application_name, backend_start
FROM sessions
WHERE backend_start >= :since AND usename IS NOT NULL
ORDER BY backend_start
