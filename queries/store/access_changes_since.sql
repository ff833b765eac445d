-- Access changes recorded since :since, oldest first (detector access-change).
SELECT
    event_id, event_time, event_source, event_name, recipient_account, aws_region,
    principal_arn, source_ip, user_agent, subject, iam_auth, policy_arn, error_code,
    error_message, request
FROM access_change_events
WHERE event_time >= :since
ORDER BY event_time, event_id
