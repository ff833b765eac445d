-- The last successful assumption of each role CloudTrail shows (detectors unused-role and
-- unused-iam-grant), with IAM's RoleLastUsed as the fallback.
SELECT role_arn, max(event_time) AS last_assumed
FROM assume_role_events
WHERE error_code IS NULL AND role_arn IS NOT NULL
GROUP BY role_arn
