-- The period's sessions, one row each: every pg_stat_activity session that overlapped
-- [:start, :end), and every logged login no polled session accounts for (same target and
-- pid, backend start within 5 s of the log line): a connection shorter than a poll
-- interval is only in the logs. A database-side client inside a fronting proxy's subnets
-- becomes "via proxy <name>" afterwards (report_session_via.sql).
INSERT INTO report_sessions (target, db_user, started, client, app, proxy)
SELECT target, usename, max(backend_start, :start), client_addr, application_name, NULL
FROM sessions
WHERE first_seen < :end AND last_seen >= :start AND usename IS NOT NULL
UNION ALL
SELECT a.target, a.user, a.time, a.client_host, a.application_name, a.proxy
FROM auth_events a
WHERE a.kind = 'connection_authorized' AND a.time >= :start AND a.time < :end
  AND a.target IS NOT NULL AND a.user IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM sessions s
      WHERE s.target = a.target AND s.pid = a.pid
        AND s.backend_start BETWEEN strftime('%Y-%m-%dT%H:%M:%f', a.time, '-5 seconds')
                                AND strftime('%Y-%m-%dT%H:%M:%f', a.time, '+5 seconds')
  )
