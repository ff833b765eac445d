-- Schema 9: indexes for store retention (monitor/store/retention.py), which deletes in
-- batches by each table's cutoff column. auth_events(time), auth_log_suspicious(time),
-- auth_log_unparsed(seen_at), assume_role_events(event_time) and
-- access_change_events(event_time) have theirs already. The first four are partial: only
-- rows that ended, were sent, dropped or removed can ever be pruned, and the open ones
-- (most writes touch those) never enter the index.
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX db_roles_dropped ON db_roles (dropped_at) WHERE dropped_at IS NOT NULL;
CREATE INDEX grants_removed ON grants (removed_at) WHERE removed_at IS NOT NULL;
-- By status first: findings_status (status, detector) would otherwise be taken, and walk
-- every resolved finding to find the old ones.
CREATE INDEX findings_resolved ON findings (status, resolved_at);
