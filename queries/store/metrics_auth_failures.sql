-- pgwarden_auth_failures_total: failed logins stored from the logs (auth_events_source index).
SELECT count(*) FROM auth_events WHERE kind = 'auth_failed'
