-- Grants not withdrawn, optionally on one target.
SELECT * FROM grants
WHERE removed_at IS NULL AND (:target IS NULL OR target = :target)
ORDER BY target, db_user, principal_arn, policy, statement
