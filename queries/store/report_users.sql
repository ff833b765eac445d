-- One row per (account, target, db user) for the access review over [:start, :end): every
-- login role that existed at :end, everyone who had a session in the period, and every db
-- user an IAM grant names exactly. Needs temp.report_sessions and temp.report_use filled.
-- Grants and roles are taken as they stood at :end (observed before it, not yet removed).
WITH
roles AS (
    SELECT target, rolname AS db_user, rds_iam, superuser, rds_superuser, member_of, first_seen
    FROM db_roles
    WHERE can_login = 1 AND first_seen < :end AND (dropped_at IS NULL OR dropped_at >= :end)
),
grants_then AS (
    SELECT principal_arn, target, db_user
    FROM grants
    WHERE target IS NOT NULL AND first_observed < :end
      AND (removed_at IS NULL OR removed_at >= :end)
),
period AS (
    SELECT target, db_user, count(*) AS sessions,
           count(DISTINCT client) AS hosts, count(DISTINCT app) AS apps
    FROM report_sessions
    GROUP BY target, db_user
),
subjects AS (
    SELECT target, db_user FROM roles
    UNION SELECT target, db_user FROM period
    UNION SELECT target, db_user FROM grants_then WHERE db_user NOT GLOB '*[*?]*'
),
failures AS (
    SELECT target, user AS db_user, count(*) AS n
    FROM auth_events
    WHERE kind = 'auth_failed' AND time >= :start AND time < :end
    GROUP BY target, user
),
-- IAM patterns know * and ?; GLOB also knows [, so a literal [ is escaped as [[].
connect AS (
    SELECT s.target, s.db_user, g.principal_arn
    FROM subjects s
    JOIN grants_then g
      ON g.target = s.target AND s.db_user GLOB replace(g.db_user, '[', '[[]')
    GROUP BY s.target, s.db_user, g.principal_arn
),
assumed AS (
    SELECT DISTINCT role_arn
    FROM assume_role_events
    WHERE error_code IS NULL AND event_time >= :start AND event_time < :end
),
principals AS (
    SELECT c.target, c.db_user,
           group_concat(c.principal_arn, char(10)) AS arns,
           group_concat(a.role_arn, char(10)) AS assumed
    FROM connect c LEFT JOIN assumed a ON a.role_arn = c.principal_arn
    GROUP BY c.target, c.db_user
),
-- A reviewer's keep standing at :end (pgwarden report apply-decisions).
kept AS (
    SELECT target, db_user, reviewer, keep_until
    FROM review_decisions
    WHERE kind = 'db_user' AND decision = 'keep' AND decided_at < :end AND keep_until > :end
),
-- The RDS Proxies in front of each target (pgwarden targets: the proxies table's fronts),
-- retired ones left out.
proxied AS (
    SELECT f.value AS target, group_concat(p.name, char(10)) AS names
    FROM proxies p, json_each(p.fronts) f
    WHERE p.retired_at IS NULL
    GROUP BY f.value
),
open_findings AS (
    SELECT json_extract(details, '$.target') AS target,
           json_extract(details, '$.db_user') AS db_user, count(*) AS n
    FROM findings
    WHERE status IN ('open', 'acknowledged')
    GROUP BY 1, 2
)
SELECT t.account_id, t.region, s.target, px.names AS proxies, s.db_user,
       r.rds_iam, r.member_of, r.superuser, r.rds_superuser,
       p.arns, p.assumed,
       coalesce(pe.sessions, 0) AS sessions, coalesce(pe.hosts, 0) AS hosts,
       coalesce(pe.apps, 0) AS apps,
       u.first, u.last, coalesce(f.n, 0) AS failures, coalesce(o.n, 0) AS open_findings,
       r.first_seen AS role_first_seen, t.first_seen AS watched_since,
       k.reviewer AS kept_by, k.keep_until AS kept_until
FROM subjects s
LEFT JOIN targets t ON t.name = s.target
LEFT JOIN roles r ON r.target = s.target AND r.db_user = s.db_user
LEFT JOIN principals p ON p.target = s.target AND p.db_user = s.db_user
LEFT JOIN period pe ON pe.target = s.target AND pe.db_user = s.db_user
LEFT JOIN report_use u ON u.target = s.target AND u.db_user = s.db_user
LEFT JOIN failures f ON f.target = s.target AND f.db_user = s.db_user
LEFT JOIN open_findings o ON o.target = s.target AND o.db_user = s.db_user
LEFT JOIN kept k ON k.target = s.target AND k.db_user = s.db_user
LEFT JOIN proxied px ON px.target = s.target
ORDER BY t.account_id, s.target, s.db_user
