-- One observed connect grant. Seen again: observed_at moves, first_observed stays. A grant
-- that had been withdrawn and is back counts as new again (first_observed restarts).
INSERT INTO grants (
    account_id, principal_arn, principal_type, via, target, resource_id, db_user, policy,
    statement, resource_pattern, conditions, notes, first_observed, observed_at, removed_at
) VALUES (
    :account_id, :principal_arn, :principal_type, :via, :target, :resource_id, :db_user, :policy,
    :statement, :resource_pattern, :conditions, :notes, :observed_at, :observed_at, NULL
)
ON CONFLICT (principal_arn, via, resource_id, db_user, policy, statement, resource_pattern)
DO UPDATE SET
    target = excluded.target,
    conditions = excluded.conditions,
    notes = excluded.notes,
    first_observed = CASE
        WHEN grants.removed_at IS NULL THEN grants.first_observed
        ELSE excluded.first_observed
    END,
    observed_at = excluded.observed_at,
    removed_at = NULL
