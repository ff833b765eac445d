-- Per target: the last good poll, the last poll, and the last log event and session seen
-- (detector monitoring-gap). A retired target is no longer watched.
SELECT t.name, st.status, st.reason, st.polled_at, st.last_ok_at,
       (SELECT max(a.time) FROM auth_events a WHERE a.target = t.name) AS last_log_event,
       (SELECT max(s.last_seen) FROM sessions s WHERE s.target = t.name) AS last_session,
       t.first_seen
FROM targets t
LEFT JOIN target_status st ON st.target = t.name
WHERE t.retired_at IS NULL
ORDER BY t.name
