-- The local stand-in for the Athena table: one row per CloudTrail record, read by DuckDB from
-- the files in $files (already pruned to the wanted partitions by monitor/sources/trailfiles.py).
--
-- Keys are declared exactly as CloudTrail writes them (camelCase, "eventID", "sourceIPAddress",
-- "ARN"): DuckDB matches JSON keys case-sensitively, so a lower-case declaration reads NULL.
-- Column references in queries are case-insensitive afterwards, so the Athena SQL's
-- `useridentity.accountid` works. requestParameters and friends stay JSON, as Athena keeps
-- them as strings. The partition columns come from the path, as Athena's projection does.
SELECT
    unnest(Records, max_depth := 2),
    regexp_extract(filename, '/AWSLogs/(?:o-[a-z0-9]+/)?([0-9]{12})/CloudTrail/', 1) AS account,
    regexp_extract(filename, '/CloudTrail/([a-z0-9-]+)/[0-9]{4}/', 1) AS region,
    regexp_extract(filename, '/CloudTrail/[a-z0-9-]+/([0-9]{4}/[0-9]{2}/[0-9]{2})/', 1)
        AS "timestamp"
FROM read_json(
    $files,
    format = 'auto',
    filename = true,
    maximum_object_size = 536870912,
    columns = {'Records': 'STRUCT(
        eventVersion VARCHAR,
        userIdentity STRUCT(
            "type" VARCHAR,
            principalId VARCHAR,
            arn VARCHAR,
            accountId VARCHAR,
            invokedBy VARCHAR,
            accessKeyId VARCHAR,
            userName VARCHAR,
            onBehalfOf STRUCT(userId VARCHAR, identityStoreArn VARCHAR),
            sessionContext STRUCT(
                attributes STRUCT(mfaAuthenticated VARCHAR, creationDate VARCHAR),
                sessionIssuer STRUCT(
                    "type" VARCHAR,
                    principalId VARCHAR,
                    arn VARCHAR,
                    accountId VARCHAR,
                    userName VARCHAR
                ),
                ec2RoleDelivery VARCHAR,
                sourceIdentity VARCHAR,
                webIdFederationData JSON
            )
        ),
        eventTime VARCHAR,
        eventSource VARCHAR,
        eventName VARCHAR,
        awsRegion VARCHAR,
        sourceIPAddress VARCHAR,
        userAgent VARCHAR,
        errorCode VARCHAR,
        errorMessage VARCHAR,
        requestParameters JSON,
        responseElements JSON,
        additionalEventData JSON,
        requestID VARCHAR,
        eventID VARCHAR,
        readOnly VARCHAR,
        resources STRUCT(ARN VARCHAR, accountId VARCHAR, "type" VARCHAR)[],
        eventType VARCHAR,
        apiVersion VARCHAR,
        managementEvent VARCHAR,
        recipientAccountId VARCHAR,
        serviceEventDetails JSON,
        sharedEventID VARCHAR,
        vpcEndpointId VARCHAR,
        vpcEndpointAccountId VARCHAR,
        eventCategory VARCHAR,
        tlsDetails STRUCT(tlsVersion VARCHAR, cipherSuite VARCHAR, clientProvidedHostHeader VARCHAR),
        sessionCredentialFromConsole VARCHAR,
        edgeDeviceDetails JSON
    )[]'}
)
