-- One entry refused as evidence (monitor/sources/pglogs.py save); read twice, stored once.
INSERT INTO auth_log_suspicious
    (target, source, time, client_host, client_port, reason, line, seen_at, dedup_key)
VALUES
    (:target, :source, :time, :client_host, :client_port, :reason, :line, :seen_at, :dedup_key)
ON CONFLICT (dedup_key) DO NOTHING
