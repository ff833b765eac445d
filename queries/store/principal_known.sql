-- Whether the grants inventory has seen this principal.
SELECT 1 FROM grants WHERE principal_arn = ? LIMIT 1
