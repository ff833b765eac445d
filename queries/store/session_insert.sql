-- A session the poll sees for the first time: one row per (target, pid, backend_start).
INSERT INTO sessions (
    target, pid, backend_start, usename, datname, client_addr, client_hostname, client_port,
    application_name, backend_type, first_seen, last_seen, last_state, last_wait_event_type,
    last_xact_start, last_query_start, last_state_change, last_query, seen_count
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
