-- Control-plane events that open a way in or blind the monitor, in [:since, :until):
--   * ModifyDBCluster / ModifyDBInstance that toggle IAM database authentication, remove
--     log types from the CloudWatch Logs export, or set the master password;
--   * parameter group changes (and resets) that name a parameter the monitor relies on;
--   * CreateDBProxy, ModifyDBProxy, DeleteDBProxy;
--   * StopActivityStream, and GuardDuty detectors losing RDS Protection (RDS_LOGIN_EVENTS);
--   * a CloudTrail trail stopped (StopLogging) or deleted, and an RDS log group deleted;
--   * IAM policy and trust changes on the watched roles, or whose request mentions rds-db:
--     (the policy document travels inside requestParameters as an escaped JSON string).
-- The request is matched as text, which both engines hold it as: Athena's requestparameters
-- is a string, DuckDB's JSON is cast. Which change it is, exactly, is decided in Python
-- (monitor/parsing/access_change.py) from the request returned in `request`.
-- Athena dialect; parameters as in assume_role.sql, plus :role_names (names, not ARNs,
-- because IAM's requestParameters carry roleName).
SELECT
    eventid AS event_id,
    eventtime AS event_time,
    eventsource AS event_source,
    eventname AS event_name,
    recipientaccountid AS recipient_account,
    awsregion AS aws_region,
    coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal_arn,
    sourceipaddress AS source_ip,
    useragent AS user_agent,
    coalesce(
        json_extract_scalar(requestparameters, '$.dBClusterIdentifier'),
        json_extract_scalar(requestparameters, '$.dBInstanceIdentifier'),
        json_extract_scalar(requestparameters, '$.dBClusterParameterGroupName'),
        json_extract_scalar(requestparameters, '$.dBParameterGroupName'),
        json_extract_scalar(requestparameters, '$.dBProxyName'),
        json_extract_scalar(requestparameters, '$.resourceArn'),
        json_extract_scalar(requestparameters, '$.detectorId'),
        json_extract_scalar(requestparameters, '$.roleName'),
        json_extract_scalar(requestparameters, '$.userName'),
        json_extract_scalar(requestparameters, '$.groupName'),
        json_extract_scalar(requestparameters, '$.policyArn'),
        json_extract_scalar(requestparameters, '$.logGroupName'),
        json_extract_scalar(requestparameters, '$.name')
    ) AS subject,
    json_extract_scalar(requestparameters, '$.enableIAMDatabaseAuthentication') AS iam_auth,
    json_extract_scalar(requestparameters, '$.policyArn') AS policy_arn,
    errorcode AS error_code,
    errormessage AS error_message,
    CAST(requestparameters AS VARCHAR) AS request,
    "$path" AS source_file
FROM cloudtrail
WHERE "timestamp" BETWEEN :day_from AND :day_to
    AND account IN (:accounts)
    AND region IN (:regions)
    -- A record without eventTime is returned so that it is counted as damaged, by file.
    AND (eventtime IS NULL OR (eventtime >= :since AND eventtime < :until))
    AND (
        (
            eventsource = 'rds.amazonaws.com'
            AND eventname IN ('ModifyDBCluster', 'ModifyDBInstance')
            AND (
                json_extract_scalar(
                    requestparameters, '$.enableIAMDatabaseAuthentication'
                ) IS NOT NULL
                OR strpos(CAST(requestparameters AS VARCHAR), '"masterUserPassword"') > 0
                OR regexp_like(
                    CAST(requestparameters AS VARCHAR),
                    '"disableLogTypes"\s*:\s*\[[^\]]*"(postgresql|iam-db-auth-error)"'
                )
            )
        )
        OR (
            eventsource = 'rds.amazonaws.com'
            AND eventname IN (
                'ModifyDBClusterParameterGroup', 'ModifyDBParameterGroup',
                'ResetDBClusterParameterGroup', 'ResetDBParameterGroup'
            )
            AND (
                regexp_like(
                    CAST(requestparameters AS VARCHAR),
                    '"(log_connections|log_disconnections|log_line_prefix|log_destination|rds\.force_ssl)"'
                )
                OR regexp_like(CAST(requestparameters AS VARCHAR), '"resetAllParameters"\s*:\s*true')
            )
        )
        OR (
            eventsource = 'rds.amazonaws.com'
            AND eventname IN (
                'CreateDBProxy', 'ModifyDBProxy', 'DeleteDBProxy', 'StopActivityStream'
            )
        )
        OR (
            eventsource = 'guardduty.amazonaws.com'
            AND (
                eventname = 'DeleteDetector'
                OR (
                    eventname IN ('UpdateDetector', 'UpdateMemberDetectors')
                    AND (
                        strpos(CAST(requestparameters AS VARCHAR), '"RDS_LOGIN_EVENTS"') > 0
                        OR regexp_like(CAST(requestparameters AS VARCHAR), '"enable"\s*:\s*false')
                    )
                )
            )
        )
        OR (
            eventsource = 'cloudtrail.amazonaws.com'
            AND eventname IN ('StopLogging', 'DeleteTrail')
        )
        OR (
            eventsource = 'logs.amazonaws.com'
            AND eventname = 'DeleteLogGroup'
            AND strpos(json_extract_scalar(requestparameters, '$.logGroupName'), '/aws/rds/') = 1
        )
        OR (
            eventsource = 'iam.amazonaws.com'
            AND eventname IN (
                'PutRolePolicy', 'PutUserPolicy', 'PutGroupPolicy', 'CreatePolicyVersion',
                'AttachRolePolicy', 'DetachRolePolicy', 'DeleteRolePolicy',
                'UpdateAssumeRolePolicy'
            )
            AND (
                json_extract_scalar(requestparameters, '$.roleName') IN (:role_names)
                OR strpos(CAST(requestparameters AS VARCHAR), 'rds-db:') > 0
            )
        )
    )
ORDER BY eventtime, eventid
