-- A target's sessions not yet ended, as the recorder rebuilds its memory from them.
SELECT id, pid, backend_start, usename, datname, client_addr, client_hostname,
    client_port, application_name, last_xact_start, last_query_start, last_state_change,
    last_state, last_wait_event_type, backend_type, last_query
FROM sessions WHERE target = ? AND ended_at IS NULL
