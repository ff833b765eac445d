-- Retention: one batch of alerts Slack accepted before the cutoff (index outbox_sent).
-- Unsent rows (sent_at NULL: pending, claimed, or waiting on a parked channel) always
-- stay, and so do the alerts of a finding not resolved: its "new" alert's ts is where its
-- repeats and its resolve are threaded (outbox_thread.sql).
DELETE FROM outbox WHERE rowid IN (
    SELECT o.rowid FROM outbox o
    WHERE o.sent_at < :cutoff
      AND NOT EXISTS (
          SELECT 1 FROM findings f
          WHERE f.fingerprint = o.fingerprint AND f.status != 'resolved'
      )
    LIMIT :batch
)
