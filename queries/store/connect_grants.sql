-- Grants of rds-db:connect to a known target and an exact db user (detector unused-iam-grant).
SELECT g.principal_arn, g.principal_type, g.account_id, g.target, g.db_user, g.policy,
       g.statement, g.resource_id, min(g.first_observed) AS first_observed,
       (SELECT max(a.time) FROM auth_events a
         WHERE a.target = g.target AND a.user = g.db_user
           AND a.kind = 'connection_authorized') AS last_login
FROM grants g
WHERE g.removed_at IS NULL AND g.target IS NOT NULL
  AND g.db_user NOT GLOB '*[*?]*'
GROUP BY g.principal_arn, g.target, g.db_user
ORDER BY g.principal_arn, g.target, g.db_user
