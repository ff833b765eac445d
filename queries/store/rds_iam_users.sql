-- Login roles that hold rds_iam, per target.
SELECT target, rolname FROM db_roles WHERE rds_iam = 1
