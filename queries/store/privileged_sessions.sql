-- Sessions since :since of roles that are superuser or rds_superuser (detector privileged-session).
SELECT s.target, s.usename, s.client_addr, s.application_name, s.backend_start, s.last_seen,
       r.superuser, r.rds_superuser
FROM sessions s
LEFT JOIN db_roles r ON r.target = s.target AND r.rolname = s.usename
WHERE s.last_seen >= :since AND s.usename IS NOT NULL
  AND (r.superuser = 1 OR r.rds_superuser = 1 OR s.usename IN (SELECT value FROM json_each(:masters)))
ORDER BY s.backend_start
