-- Roles that may rds-db:connect somewhere: watched like the monitor roles.
SELECT DISTINCT principal_arn FROM grants WHERE principal_type = 'role' AND removed_at IS NULL
