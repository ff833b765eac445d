-- An alert waiting for delivery, queued in the transaction that records its finding.
INSERT INTO outbox (fingerprint, kind, payload, created_at, next_attempt_at)
VALUES (?, ?, ?, ?, ?)
