-- A login role as the target lists it; listed again, it is no longer dropped.
INSERT INTO db_roles (
    target, rolname, rds_iam, superuser, rds_superuser, can_login, valid_until, member_of,
    first_seen, observed_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (target, rolname) DO UPDATE SET rds_iam = excluded.rds_iam,
    superuser = excluded.superuser, rds_superuser = excluded.rds_superuser,
    can_login = excluded.can_login, valid_until = excluded.valid_until,
    member_of = excluded.member_of, observed_at = excluded.observed_at, dropped_at = NULL
