-- The connect grants standing at :end that the revocation plan removes: every grant of a
-- principal recommended for revoking, and every grant naming exactly a db user recommended
-- for revoking. Needs temp.report_revoke_users and temp.report_revoke_principals filled.
SELECT g.account_id, g.principal_arn, g.principal_type, g.via, g.policy, g.statement,
       g.resource_pattern, g.target, g.resource_id, g.db_user,
       p.reason AS principal_reason, u.reason AS user_reason
FROM grants g
LEFT JOIN report_revoke_principals p ON p.principal_arn = g.principal_arn
LEFT JOIN report_revoke_users u ON u.target = g.target AND u.db_user = g.db_user
WHERE g.first_observed < :end AND (g.removed_at IS NULL OR g.removed_at >= :end)
  AND (p.principal_arn IS NOT NULL OR u.target IS NOT NULL)
ORDER BY g.account_id, g.principal_arn, g.via, g.policy, g.statement, g.resource_pattern,
         g.target, g.db_user
