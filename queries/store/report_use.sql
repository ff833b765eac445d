-- First and last sign of use of each (target, db user) before :end: a logged login, a
-- polled session (clipped to :end), or, for the user pgwarden itself logs in as, a good poll
-- (as detector unused-db-user counts it). Grouped over the (target, user, kind, time) index.
INSERT INTO report_use (target, db_user, first, last, last_login)
SELECT target, db_user, min(first), min(max(last), :end), max(last_login)
FROM (
    SELECT target, user AS db_user, min(time) AS first, max(time) AS last, max(time) AS last_login
    FROM auth_events
    WHERE kind = 'connection_authorized' AND time < :end
      AND target IS NOT NULL AND user IS NOT NULL
    GROUP BY target, user
    UNION ALL
    SELECT target, usename, min(first_seen), max(last_seen), NULL
    FROM sessions
    WHERE first_seen < :end AND usename IS NOT NULL
    GROUP BY target, usename
    UNION ALL
    SELECT st.target, t.db_user, NULL, st.last_ok_at, NULL
    FROM target_status st JOIN targets t ON t.name = st.target
    WHERE st.last_ok_at IS NOT NULL
)
GROUP BY target, db_user
