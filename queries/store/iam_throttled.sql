-- IAM logins refused for throttling since :since, oldest first (detector iam-throttling).
SELECT target, user, client_host, time, proxy, caller_arn
FROM auth_events
WHERE kind = 'auth_failed' AND reason_code = 'ThrottlingException' AND time >= :since
ORDER BY time
