-- pgwarden_sessions: sessions still open at the last poll, by pg_stat_activity.state.
SELECT coalesce(last_state, 'unknown'), count(*) FROM sessions WHERE ended_at IS NULL
GROUP BY 1 ORDER BY 1
