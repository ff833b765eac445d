-- One AssumeRole* event; a record read again (overlapping windows, or the same eventID
-- delivered twice) is ignored.
INSERT INTO assume_role_events (
    event_id, event_time, event_name, recipient_account, source_account, principal_arn,
    principal_type, session_issuer_arn, source_ip, user_agent, vpc_endpoint_id, role_arn,
    role_session_name, external_id_present, error_code, error_message, hidden, ingested_at
) VALUES (
    :event_id, :event_time, :event_name, :recipient_account, :source_account, :principal_arn,
    :principal_type, :session_issuer_arn, :source_ip, :user_agent, :vpc_endpoint_id, :role_arn,
    :role_session_name, :external_id_present, :error_code, :error_message, :hidden, :ingested_at
)
ON CONFLICT (event_id) DO NOTHING
