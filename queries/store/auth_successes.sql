-- Successful logins since :since (detector failure-burst: did a guess work?).
SELECT target, user, client_host, time
FROM auth_events
WHERE kind = 'connection_authorized' AND time >= :since
ORDER BY time
