-- A target's logins since :since that reached it directly (not written by an RDS Proxy's
-- log) and were authenticated by a password, and how many auth events it has in all since
-- :since (none: the store holds no evidence either way).
SELECT
    coalesce(sum(
        kind = 'connection_authenticated' AND proxy IS NULL
        AND method IN ('password', 'md5', 'scram-sha-256')
    ), 0) AS password_logins,
    count(*) AS events
FROM auth_events
WHERE target = :target AND time >= :since
