-- Retention: one batch of findings resolved before the cutoff (index findings_resolved).
-- Open, acknowledged and suppressed findings stay, however old.
DELETE FROM findings WHERE rowid IN (
    SELECT rowid FROM findings
    WHERE status = 'resolved' AND resolved_at < :cutoff
    LIMIT :batch
)
