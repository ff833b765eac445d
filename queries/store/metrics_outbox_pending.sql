-- pgwarden_outbox_pending: alerts Slack has not accepted yet (outbox_pending index).
SELECT count(*) FROM outbox WHERE sent_at IS NULL
