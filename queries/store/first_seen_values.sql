-- When each (subject, attribute, value) was first seen, and how often, across sessions,
-- logins and role assumptions (detector new-source). The history is the store itself, so
-- what was learned survives restarts: ElastAlert's new_term, but persistent.
SELECT 'db' AS kind, target || '/' || usename AS subject, 'client host' AS attribute,
       client_addr AS value, min(first_seen) AS first, count(*) AS seen
FROM sessions WHERE client_addr IS NOT NULL AND usename IS NOT NULL
GROUP BY target, usename, client_addr
UNION ALL
SELECT 'db', target || '/' || usename, 'application_name', application_name, min(first_seen), count(*)
FROM sessions WHERE application_name IS NOT NULL AND application_name != '' AND usename IS NOT NULL
GROUP BY target, usename, application_name
UNION ALL
SELECT 'db', target || '/' || user, 'client host', client_host, min(time), count(*)
FROM auth_events
WHERE kind = 'connection_authorized' AND client_host IS NOT NULL AND user IS NOT NULL
GROUP BY target, user, client_host
UNION ALL
SELECT 'role', role_arn, 'source IP', source_ip, min(event_time), count(*)
FROM assume_role_events WHERE error_code IS NULL AND source_ip IS NOT NULL
GROUP BY role_arn, source_ip
UNION ALL
SELECT 'role', role_arn, 'source account', source_account, min(event_time), count(*)
FROM assume_role_events WHERE error_code IS NULL AND source_account IS NOT NULL
GROUP BY role_arn, source_account
