-- Client sessions on this server, polled every [activity].interval_s (autocommit: inside a
-- transaction pg_stat_activity is a frozen snapshot). Needs pg_monitor (or pg_read_all_stats)
-- to see other users' client_addr and state.
-- %(capture_query)s: true only with [activity].capture_query_text = "masked"; otherwise the
-- query text never leaves the server. pgwarden's own backend is left out.
SELECT pid,
       usename,
       datname,
       host(client_addr) AS client_addr,
       client_hostname,
       client_port,
       application_name,
       backend_start,
       xact_start,
       query_start,
       state_change,
       state,
       wait_event_type,
       backend_type,
       CASE WHEN %(capture_query)s THEN left(query, 2048) END AS query
  FROM pg_stat_activity
 WHERE backend_type = 'client backend'
   AND pid <> pg_backend_pid()
   -- The session key; NULL only for rows hidden from a role without pg_read_all_stats.
   AND backend_start IS NOT NULL
