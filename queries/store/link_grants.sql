-- Principals allowed rds-db:connect, for linking logins to the roles behind them.
SELECT DISTINCT principal_arn, principal_type, target, db_user
FROM grants
WHERE removed_at IS NULL AND target IS NOT NULL
