-- Every IAM principal allowed rds-db:connect at :end, one row per (principal, target or
-- resource id, db user or pattern), ordered by principal: the last successful assumption
-- before :end (CloudTrail, else IAM's RoleLastUsed) and the last login as a db user the
-- grant covers. Needs temp.report_use filled.
WITH
grants_then AS (
    SELECT principal_arn, principal_type, account_id, target, resource_id, db_user,
           min(first_observed) AS first_observed
    FROM grants
    WHERE first_observed < :end AND (removed_at IS NULL OR removed_at >= :end)
    GROUP BY principal_arn, target, resource_id, db_user
),
assumed AS (
    SELECT role_arn, max(event_time) AS last
    FROM assume_role_events
    WHERE error_code IS NULL AND event_time < :end AND role_arn IS NOT NULL
    GROUP BY role_arn
)
SELECT g.principal_arn, g.principal_type, g.account_id, g.target, g.resource_id, g.db_user,
       g.first_observed,
       coalesce(a.last, CASE WHEN rt.last_used_at < :end THEN rt.last_used_at END) AS last_assumed,
       (SELECT max(u.last_login) FROM report_use u
         WHERE u.target = g.target AND u.db_user GLOB replace(g.db_user, '[', '[[]')) AS last_login,
       k.reviewer AS kept_by, k.keep_until AS kept_until
FROM grants_then g
LEFT JOIN assumed a ON a.role_arn = g.principal_arn
LEFT JOIN role_trust rt ON rt.role_arn = g.principal_arn
-- A reviewer's keep standing at :end (pgwarden report apply-decisions).
LEFT JOIN review_decisions k
  ON k.kind = 'principal' AND k.principal_arn = g.principal_arn AND k.decision = 'keep'
 AND k.decided_at < :end AND k.keep_until > :end
ORDER BY g.principal_arn, coalesce(g.target, g.resource_id), g.db_user
