-- A reviewer's decision; a later one on the same subject replaces it.
INSERT INTO review_decisions (
    kind, target, db_user, principal_arn, decision, reviewer, notes, source, decided_at,
    keep_until
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, target, db_user, principal_arn) DO UPDATE SET
    decision = excluded.decision, reviewer = excluded.reviewer, notes = excluded.notes,
    source = excluded.source, decided_at = excluded.decided_at, keep_until = excluded.keep_until
