-- Claim a row not yet sent before its post.
UPDATE outbox SET claim_id = ?, claimed_at = ?, digest = ? WHERE id = ? AND sent_at IS NULL
