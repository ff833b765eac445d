-- Role assumptions since :since, oldest first (detector unexpected-assume-source).
SELECT event_id, event_time, event_name, recipient_account, source_account, principal_arn,
       principal_type, source_ip, role_arn, error_code
FROM assume_role_events
WHERE event_time >= :since
ORDER BY event_time
