-- Slack accepted the row's message (a digest keeps no ts: nothing threads under it).
UPDATE outbox SET sent_at = ?, slack_ts = ?, digest = ?, attempts = attempts + 1,
    last_error = NULL
WHERE id = ?
