-- A principal the review recommends revoking: (principal_arn, reason).
INSERT INTO report_revoke_principals VALUES (?, ?)
