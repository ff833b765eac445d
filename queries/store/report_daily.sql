-- Sessions started and failed logins per target and UTC hour in the period, for the report's
-- charts; Python folds the hours into local days. Needs temp.report_sessions filled.
SELECT 'sessions' AS series, target, substr(started, 1, 13) AS hour, count(*) AS n
FROM report_sessions
GROUP BY target, hour
UNION ALL
SELECT 'auth_failures', coalesce(target, ''), substr(time, 1, 13), count(*)
FROM auth_events
WHERE kind = 'auth_failed' AND time >= :start AND time < :end
GROUP BY target, substr(time, 1, 13)
