-- Successful role assumptions since :since, for linking logins to the roles behind them.
SELECT role_arn, event_time, source_ip, vpc_endpoint_id, principal_arn
FROM assume_role_events
WHERE error_code IS NULL AND role_arn IS NOT NULL AND event_time >= :since
ORDER BY event_time
