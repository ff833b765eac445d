-- The database user pgwarden logs in as, on every monitored cluster or instance.
-- Run as the master user. rds_iam: log in with IAM tokens only (rds-db:connect);
-- pg_monitor: read pg_stat_activity of every session, without superuser.
CREATE USER pgmonitor WITH LOGIN;
GRANT rds_iam TO pgmonitor;
GRANT pg_monitor TO pgmonitor;
