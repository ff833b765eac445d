-- A target's logins since :since that no RDS Proxy's log wrote and that were authenticated
-- by a password, per client address; and (in every row) how many auth events it has in all
-- since :since: none means the store holds no evidence either way. A proxy's own pooled
-- connections to the database are among them: the caller leaves out its subnets.
WITH events AS (
    SELECT count(*) AS n FROM auth_events WHERE target = :target AND time >= :since
)
SELECT a.client_host, count(a.target) AS logins, e.n
FROM events e
LEFT JOIN auth_events a
  ON a.target = :target AND a.time >= :since AND a.kind = 'connection_authenticated'
 AND a.proxy IS NULL AND a.method IN ('password', 'md5', 'scram-sha-256')
GROUP BY a.client_host, e.n
