-- Grants not withdrawn, optionally on one target.
SELECT id, account_id, principal_arn, principal_type, via, target, resource_id, db_user, policy,
    statement, resource_pattern, conditions, notes, first_observed, observed_at, removed_at
FROM grants
WHERE removed_at IS NULL AND (:target IS NULL OR target = :target)
ORDER BY target, db_user, principal_arn, policy, statement
