-- An account's grants not seen by this inventory are withdrawn.
UPDATE grants SET removed_at = :now
WHERE account_id = :account AND removed_at IS NULL AND observed_at < :now
RETURNING principal_arn, target, resource_id, db_user, policy
