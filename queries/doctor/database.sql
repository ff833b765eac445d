-- What `pgwarden doctor` asks a target's database, in one round trip. No parameters.
-- Role membership is looked up by name through pg_roles, so a server without the RDS
-- roles (rds_iam) answers false instead of failing.
SELECT
    current_user AS db_user,
    EXISTS (
        SELECT 1 FROM pg_roles r
        WHERE r.rolname = 'rds_iam' AND pg_has_role(current_user, r.oid, 'MEMBER')
    ) AS rds_iam,
    EXISTS (
        SELECT 1 FROM pg_roles r
        WHERE r.rolname = 'pg_monitor' AND pg_has_role(current_user, r.oid, 'USAGE')
    ) AS pg_monitor,
    pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats,
    current_setting('log_line_prefix') AS log_line_prefix,
    current_setting('server_version') AS server_version,
    current_setting('server_version_num')::int AS server_version_num,
    -- Without pg_read_all_stats, other users' rows come back with client_addr, state,
    -- backend_type and the rest hidden (NULL), and query reads '<insufficient privilege>'.
    (SELECT count(*) FROM pg_stat_activity a
     WHERE a.usesysid IS NOT NULL AND a.usename IS DISTINCT FROM current_user
       AND (a.backend_type = 'client backend' OR a.query = '<insufficient privilege>')
    ) AS other_sessions,
    (SELECT count(*) FROM pg_stat_activity a
     WHERE a.usesysid IS NOT NULL AND a.usename IS DISTINCT FROM current_user
       AND a.client_addr IS NULL AND a.query = '<insufficient privilege>'
    ) AS hidden_sessions,
    -- stderr, csvlog, jsonlog: which can a client's user or database name break out of?
    current_setting('log_destination') AS log_destination
