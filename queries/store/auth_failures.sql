-- Failed logins since :since, oldest first (detector failure-burst): with the proxy whose own
-- log wrote a failure, and the caller an iam-db-auth-error line names. Throttled IAM logins
-- are no guesses: detector iam-throttling reads them (iam_throttled.sql).
SELECT target, user, client_host, time, proxy, caller_arn
FROM auth_events
WHERE kind = 'auth_failed' AND time >= :since
  AND coalesce(reason_code, '') != 'ThrottlingException'
ORDER BY time
