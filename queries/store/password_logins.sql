-- Logins authenticated by anything but PAM (RDS IAM tokens are checked through PAM), since
-- :since, with the proxy whose own log recorded them (detectors password-login, proxy-bypass).
SELECT target, user, method, client_host, count(*) AS logins, min(time) AS first, max(time) AS last,
       proxy
FROM auth_events
WHERE kind = 'connection_authenticated'
  AND method IS NOT NULL AND method NOT IN ('pam', 'iam')
  AND time >= :since
GROUP BY target, user, method, client_host, proxy
ORDER BY target, user, method, client_host
