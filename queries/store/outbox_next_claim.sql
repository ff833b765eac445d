-- A claim id never used before.
SELECT coalesce(max(claim_id), 0) + 1 FROM outbox
