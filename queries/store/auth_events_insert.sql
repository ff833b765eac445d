-- One auth event; a second read of the same event (same dedup_key) is ignored.
INSERT INTO auth_events (
    target, time, kind, user, database, client_host, client_port, pid, method, reason,
    application_name, source, identity, tls, session_s, proxy, reason_code, caller_arn,
    dedup_key
) VALUES (
    :target, :time, :kind, :user, :database, :client_host, :client_port, :pid, :method, :reason,
    :application_name, :source, :identity, :tls, :session_s, :proxy, :reason_code, :caller_arn,
    :dedup_key
)
ON CONFLICT (dedup_key) DO NOTHING
