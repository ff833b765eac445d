-- One control-plane change to who can get in; repeated eventIDs are ignored.
INSERT INTO access_change_events (
    event_id, event_time, event_source, event_name, recipient_account, aws_region,
    principal_arn, source_ip, user_agent, subject, iam_auth, policy_arn, error_code,
    error_message, request, hidden, ingested_at
) VALUES (
    :event_id, :event_time, :event_source, :event_name, :recipient_account, :aws_region,
    :principal_arn, :source_ip, :user_agent, :subject, :iam_auth, :policy_arn, :error_code,
    :error_message, :request, :hidden, :ingested_at
)
ON CONFLICT (event_id) DO NOTHING
