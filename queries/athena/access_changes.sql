-- Control-plane events that change who can get in, in [:since, :until):
--   * ModifyDBCluster / ModifyDBInstance that toggle IAM database authentication;
--   * CreateDBProxy, ModifyDBProxy, DeleteDBProxy;
--   * IAM policy and trust changes on the watched roles, or whose request mentions rds-db:
--     (the policy document travels inside requestParameters as an escaped JSON string).
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
        json_extract_scalar(requestparameters, '$.dBProxyName'),
        json_extract_scalar(requestparameters, '$.roleName'),
        json_extract_scalar(requestparameters, '$.userName'),
        json_extract_scalar(requestparameters, '$.policyArn')
    ) AS subject,
    json_extract_scalar(requestparameters, '$.enableIAMDatabaseAuthentication') AS iam_auth,
    json_extract_scalar(requestparameters, '$.policyArn') AS policy_arn,
    errorcode AS error_code,
    errormessage AS error_message
FROM cloudtrail
WHERE "timestamp" BETWEEN :day_from AND :day_to
    AND account IN (:accounts)
    AND region IN (:regions)
    AND eventtime >= :since
    AND eventtime < :until
    AND (
        (
            eventsource = 'rds.amazonaws.com'
            AND eventname IN ('ModifyDBCluster', 'ModifyDBInstance')
            AND json_extract_scalar(
                requestparameters, '$.enableIAMDatabaseAuthentication'
            ) IS NOT NULL
        )
        OR (
            eventsource = 'rds.amazonaws.com'
            AND eventname IN ('CreateDBProxy', 'ModifyDBProxy', 'DeleteDBProxy')
        )
        OR (
            eventsource = 'iam.amazonaws.com'
            AND eventname IN (
                'PutRolePolicy', 'PutUserPolicy', 'AttachRolePolicy',
                'CreatePolicyVersion', 'UpdateAssumeRolePolicy'
            )
            AND (
                json_extract_scalar(requestparameters, '$.roleName') IN (:role_names)
                OR strpos(CAST(requestparameters AS VARCHAR), 'rds-db:') > 0
            )
        )
    )
ORDER BY eventtime, eventid
