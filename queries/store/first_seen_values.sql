-- Values first seen since :recent, with when their subject was first seen at all
-- (detector new-source). The history is the store itself, so what was learned survives
-- restarts: ElastAlert's new_term, but persistent. The grouping and the filter run here,
-- in SQLite over covering indexes, so only the few recent values reach Python.
-- `via` is the proxy whose own log recorded the value (the client's address); the loader
-- drops a database-side address inside a fronting proxy's subnets (monitor/store/fronting.py).
WITH seen (kind, subject, attribute, value, first, n, via) AS (
    SELECT 'db', target || '/' || usename, 'client host', client_addr, min(first_seen), count(*),
           NULL
    FROM sessions WHERE client_addr IS NOT NULL AND usename IS NOT NULL
    GROUP BY target, usename, client_addr
    UNION ALL
    SELECT 'db', target || '/' || usename, 'application_name', application_name,
           min(first_seen), count(*), NULL
    FROM sessions
    WHERE application_name IS NOT NULL AND application_name != '' AND usename IS NOT NULL
    GROUP BY target, usename, application_name
    UNION ALL
    SELECT 'db', target || '/' || user, 'client host', client_host, min(time), count(*),
           max(proxy)
    FROM auth_events
    WHERE kind = 'connection_authorized' AND client_host IS NOT NULL AND user IS NOT NULL
    GROUP BY target, user, client_host
    UNION ALL
    -- A proxy's own log: a client connected to the proxy in front of the target (the line
    -- names no user, so the subject is the target).
    SELECT 'proxy', target, 'client host', client_host, min(time), count(*), max(proxy)
    FROM auth_events
    WHERE kind = 'connection_received' AND proxy IS NOT NULL AND client_host IS NOT NULL
    GROUP BY target, client_host
    UNION ALL
    SELECT 'role', role_arn, 'source IP', source_ip, min(event_time), count(*), NULL
    FROM assume_role_events WHERE error_code IS NULL AND source_ip IS NOT NULL
    GROUP BY role_arn, source_ip
    UNION ALL
    SELECT 'role', role_arn, 'source account', source_account, min(event_time), count(*), NULL
    FROM assume_role_events WHERE error_code IS NULL AND source_account IS NOT NULL
    GROUP BY role_arn, source_account
),
per_value AS (
    SELECT kind, subject, attribute, value, min(first) AS first, sum(n) AS n, max(via) AS via
    FROM seen GROUP BY kind, subject, attribute, value
),
per_subject AS (
    SELECT kind, subject, min(first) AS started FROM per_value GROUP BY kind, subject
)
SELECT v.kind, v.subject, v.attribute, v.value, v.first, v.n, s.started, v.via
FROM per_value v JOIN per_subject s ON s.kind = v.kind AND s.subject = v.subject
WHERE v.first >= :recent
ORDER BY v.subject, v.attribute, v.value
