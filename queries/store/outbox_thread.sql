-- The Slack ts of a finding's last "new" alert sent on its own: repeats and resolves go
-- into its thread.
SELECT slack_ts FROM outbox
WHERE fingerprint = ? AND kind = 'new' AND sent_at IS NOT NULL AND digest = 0
    AND slack_ts IS NOT NULL
ORDER BY id DESC LIMIT 1
