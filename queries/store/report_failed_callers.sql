-- Failed logins in [:start, :end) per caller ARN an iam-db-auth-error line names (the
-- principals CSV's failed_logins, matched to principals in monitor/outputs/reports/rows.py).
SELECT caller_arn, count(*) AS n
FROM auth_events
WHERE kind = 'auth_failed' AND caller_arn IS NOT NULL AND time >= :start AND time < :end
GROUP BY caller_arn
