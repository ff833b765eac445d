-- Reviewers' revoke decisions, with when the access was last observed still in place: the
-- db user holding rds_iam on its target (roles inventory), or the principal allowed
-- rds-db:connect anywhere (grants inventory). NULL once it is gone (detector
-- revoked-access-present).
SELECT d.kind, d.target, d.db_user, d.principal_arn, d.reviewer, d.decided_at, d.source,
       CASE d.kind
           WHEN 'db_user' THEN (
               SELECT r.observed_at FROM db_roles r
               WHERE r.target = d.target AND r.rolname = d.db_user
                 AND r.rds_iam = 1 AND r.dropped_at IS NULL)
           ELSE (
               SELECT max(g.observed_at) FROM grants g
               WHERE g.principal_arn = d.principal_arn AND g.removed_at IS NULL)
       END AS still_seen,
       (SELECT t.account_id FROM targets t WHERE t.name = d.target) AS account_id
FROM review_decisions d
WHERE d.decision = 'revoke'
ORDER BY d.kind, d.target, d.db_user, d.principal_arn
