-- Login roles holding rds_iam, with when pgwarden first saw them and their target, and the
-- last sign of use: a logged login, a session in pg_stat_activity, or pgwarden's own good
-- poll when it is the user pgwarden logs in as (detector unused-db-user).
SELECT r.target, r.rolname, r.first_seen, t.first_seen AS watched_since,
       (SELECT max(a.time) FROM auth_events a
         WHERE a.target = r.target AND a.user = r.rolname
           AND a.kind = 'connection_authorized') AS last_login,
       (SELECT max(s.last_seen) FROM sessions s
         WHERE s.target = r.target AND s.usename = r.rolname) AS last_session,
       (SELECT st.last_ok_at FROM target_status st
         WHERE st.target = r.target AND t.db_user = r.rolname) AS last_poll
FROM db_roles r
JOIN targets t ON t.name = r.target
WHERE r.rds_iam = 1 AND r.can_login = 1 AND r.dropped_at IS NULL AND t.retired_at IS NULL
ORDER BY r.target, r.rolname
