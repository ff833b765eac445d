-- Client sessions that started since :since (detector off-hours), and the logins a proxy's
-- own log recorded for the targets behind it (with the client's address and the proxy).
SELECT target, usename, client_addr, application_name, backend_start, NULL AS proxy
FROM sessions
WHERE backend_start >= :since AND usename IS NOT NULL
UNION ALL
SELECT target, user, client_host, application_name, time, proxy
FROM auth_events
WHERE kind = 'connection_authorized' AND proxy IS NOT NULL AND time >= :since
  AND user IS NOT NULL AND target IS NOT NULL
ORDER BY 5
