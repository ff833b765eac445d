-- Successful logins since :since (detector failure-burst: did a guess work?), with the proxy
-- whose own log wrote a login.
SELECT target, user, client_host, time, proxy, NULL AS caller_arn
FROM auth_events
WHERE kind = 'connection_authorized' AND time >= :since
ORDER BY time
