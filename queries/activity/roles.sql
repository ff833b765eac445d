-- Login roles with every role they belong to (transitively), read on connect and every
-- [activity].roles_refresh_s. rds_iam membership is what lets a role log in with an IAM token;
-- rds_superuser is RDS's stand-in for superuser.
WITH RECURSIVE membership (member, roleid) AS (
    SELECT member, roleid FROM pg_auth_members
    UNION
    SELECT m.member, a.roleid
      FROM membership m
      JOIN pg_auth_members a ON a.member = m.roleid
)
SELECT r.rolname,
       r.rolsuper,
       r.rolcanlogin,
       -- 'infinity' means no expiry; Python datetimes cannot hold it.
       CASE WHEN r.rolvaliduntil = 'infinity' THEN NULL ELSE r.rolvaliduntil END AS rolvaliduntil,
       ARRAY(SELECT g.rolname
               FROM membership m
               JOIN pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid
              ORDER BY g.rolname) AS member_of
  FROM pg_roles r
 WHERE r.rolcanlogin
 ORDER BY r.rolname
