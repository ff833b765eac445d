-- log-injection: suspicious entries since :since, newest first, per target and client
-- host. The detector groups them; a host of NULL (the prefix holds none a client cannot
-- choose) is its own group.
SELECT target, client_host, client_port, time, reason, line, source
FROM auth_log_suspicious
WHERE time >= :since
ORDER BY target, client_host, time DESC
