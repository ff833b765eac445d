-- Every alert not yet sent, oldest first.
SELECT id, fingerprint, kind, payload, created_at, attempts, next_attempt_at, claim_id,
    claimed_at, digest
FROM outbox WHERE sent_at IS NULL ORDER BY id
