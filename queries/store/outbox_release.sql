-- Slack does not have the row's message: it may be claimed and posted again.
UPDATE outbox SET claim_id = NULL, claimed_at = NULL WHERE id = ?
