-- Failed logins since :since, oldest first (detector failure-burst).
SELECT target, user, client_host, time
FROM auth_events
WHERE kind = 'auth_failed' AND time >= :since
ORDER BY time
