-- AssumeRole, AssumeRoleWithWebIdentity and AssumeRoleWithSAML into the watched roles, in
-- [:since, :until). Written in Athena's (Trino's) dialect; sqlglot transpiles it for DuckDB.
--
-- Parameters (bound by monitor/sources/trailsql.py, never formatted in):
--   :day_from, :day_to   partition days, 'YYYY/MM/DD', inclusive: Athena scans only these
--   :accounts, :regions  partition lists; NULL turns the predicate into TRUE (all partitions)
--   :since, :until       'YYYY-MM-DDTHH:MM:SSZ', the exact window; CloudTrail's eventTime has
--                        this fixed form, so comparing the text compares the times
--   :roles               role ARNs; NULL means every role
--
-- A refused AssumeRole may carry no requestParameters; the role is then only named in the
-- error message ("... not authorized to perform: sts:AssumeRole on resource: arn:...").
-- The ExternalId is never selected: only whether one was presented. source_file ("$path",
-- the object the record came from) names the file of a damaged record.
SELECT
    eventid AS event_id,
    eventtime AS event_time,
    eventname AS event_name,
    recipientaccountid AS recipient_account,
    useridentity.accountid AS source_account,
    coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal_arn,
    useridentity.type AS principal_type,
    useridentity.sessioncontext.sessionissuer.arn AS session_issuer_arn,
    sourceipaddress AS source_ip,
    useragent AS user_agent,
    vpcendpointid AS vpc_endpoint_id,
    coalesce(
        json_extract_scalar(requestparameters, '$.roleArn'),
        regexp_extract(errormessage, 'on resource: (arn:[^ ]+)', 1)
    ) AS role_arn,
    json_extract_scalar(requestparameters, '$.roleSessionName') AS role_session_name,
    json_extract_scalar(requestparameters, '$.externalId') IS NOT NULL AS external_id_present,
    errorcode AS error_code,
    errormessage AS error_message,
    "$path" AS source_file
FROM cloudtrail
WHERE "timestamp" BETWEEN :day_from AND :day_to
    AND account IN (:accounts)
    AND region IN (:regions)
    AND eventsource = 'sts.amazonaws.com'
    AND eventname IN ('AssumeRole', 'AssumeRoleWithWebIdentity', 'AssumeRoleWithSAML')
    -- A record without eventTime is returned so that it is counted as damaged, by file.
    AND (eventtime IS NULL OR (eventtime >= :since AND eventtime < :until))
    AND coalesce(
        json_extract_scalar(requestparameters, '$.roleArn'),
        regexp_extract(errormessage, 'on resource: (arn:[^ ]+)', 1)
    ) IN (:roles)
ORDER BY eventtime, eventid
