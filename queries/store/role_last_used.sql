SELECT role_arn, last_used_at FROM role_trust WHERE last_used_at IS NOT NULL
