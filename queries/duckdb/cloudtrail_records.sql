-- The local stand-in for the Athena table: one row per CloudTrail record, read by DuckDB from
-- the files in $files (already pruned to the wanted partitions and checked by
-- monitor/sources/trail_local.py).
--
-- read_json_objects with format 'auto' hands over each file as one JSON value, or each
-- element of a bare array, or each line of JSON Lines. A value with a Records array is a
-- file as CloudTrail writes it; any other object is one exported event. from_json turns the
-- records into structs: about 20 times faster on CloudTrail files than read_json with a
-- Records column (DuckDB 2.0, bench/trail.py).
--
-- Keys are declared exactly as CloudTrail writes them (camelCase, "eventID", "sourceIPAddress",
-- "ARN"): DuckDB matches JSON keys case-sensitively, so a lower-case declaration reads NULL.
-- Column references in queries are case-insensitive afterwards, so the Athena SQL's
-- `useridentity.accountid` works. requestParameters and friends stay JSON, as Athena keeps
-- them as strings. The partition columns come from the path, as Athena's projection does;
-- exported events have no such path, so theirs come from the record (recipientAccountId,
-- awsRegion, the day of eventTime). "$path" is the file, as Athena's pseudo-column is.
SELECT
    *,
    coalesce(path_account, recipientAccountId) AS account,
    coalesce(path_region, awsRegion) AS region,
    coalesce(path_day, replace(substr(eventTime, 1, 10), '-', '/')) AS "timestamp"
FROM (
    SELECT
        unnest(
            from_json(
                -- JSON that is neither a trail file nor an event fails the query, so the file is
                -- checked in full, named and skipped instead of silently adding nothing.
                CASE
                    WHEN json_type(json -> 'Records') = 'ARRAY' THEN json -> 'Records'
                    WHEN json_type(json) = 'OBJECT'
                        AND (
                            json_exists(json, '$.eventID')
                            OR json_exists(json, '$.eventTime')
                            OR json_exists(json, '$.eventName')
                        )
                        THEN ('[' || json || ']')::JSON
                    ELSE error('not CloudTrail events (no "Records" array): ' || filename)
                END,
                '[{
                    "eventVersion": "VARCHAR",
                    "userIdentity": {
                        "type": "VARCHAR",
                        "principalId": "VARCHAR",
                        "arn": "VARCHAR",
                        "accountId": "VARCHAR",
                        "invokedBy": "VARCHAR",
                        "accessKeyId": "VARCHAR",
                        "userName": "VARCHAR",
                        "onBehalfOf": {"userId": "VARCHAR", "identityStoreArn": "VARCHAR"},
                        "sessionContext": {
                            "attributes": {"mfaAuthenticated": "VARCHAR", "creationDate": "VARCHAR"},
                            "sessionIssuer": {
                                "type": "VARCHAR",
                                "principalId": "VARCHAR",
                                "arn": "VARCHAR",
                                "accountId": "VARCHAR",
                                "userName": "VARCHAR"
                            },
                            "ec2RoleDelivery": "VARCHAR",
                            "sourceIdentity": "VARCHAR",
                            "webIdFederationData": "JSON"
                        }
                    },
                    "eventTime": "VARCHAR",
                    "eventSource": "VARCHAR",
                    "eventName": "VARCHAR",
                    "awsRegion": "VARCHAR",
                    "sourceIPAddress": "VARCHAR",
                    "userAgent": "VARCHAR",
                    "errorCode": "VARCHAR",
                    "errorMessage": "VARCHAR",
                    "requestParameters": "JSON",
                    "responseElements": "JSON",
                    "additionalEventData": "JSON",
                    "requestID": "VARCHAR",
                    "eventID": "VARCHAR",
                    "readOnly": "VARCHAR",
                    "resources": [{"ARN": "VARCHAR", "accountId": "VARCHAR", "type": "VARCHAR"}],
                    "eventType": "VARCHAR",
                    "apiVersion": "VARCHAR",
                    "managementEvent": "VARCHAR",
                    "recipientAccountId": "VARCHAR",
                    "serviceEventDetails": "JSON",
                    "sharedEventID": "VARCHAR",
                    "vpcEndpointId": "VARCHAR",
                    "vpcEndpointAccountId": "VARCHAR",
                    "eventCategory": "VARCHAR",
                    "tlsDetails": {
                        "tlsVersion": "VARCHAR",
                        "cipherSuite": "VARCHAR",
                        "clientProvidedHostHeader": "VARCHAR"
                    },
                    "sessionCredentialFromConsole": "VARCHAR",
                    "edgeDeviceDetails": "JSON"
                }]'
            ),
            max_depth := 2
        ),
        filename AS "$path",
        -- The partition values, taken from the path or, for exported events, from the record.
        nullif(regexp_extract(filename, '/AWSLogs/(?:o-[a-z0-9]+/)?([0-9]{12})/CloudTrail/', 1), '')
            AS path_account,
        nullif(regexp_extract(filename, '/CloudTrail/([a-z0-9-]+)/[0-9]{4}/', 1), '') AS path_region,
        nullif(
            regexp_extract(filename, '/CloudTrail/[a-z0-9-]+/([0-9]{4}/[0-9]{2}/[0-9]{2})/', 1), ''
        ) AS path_day
    FROM read_json_objects(
        $files,
        format = 'auto',
        filename = true,
        -- Caps the size of one whole uncompressed file. DuckDB reserves buffers by it: 512 MB
        -- ran out of memory with a dozen files; 128 MB holds any file CloudTrail delivers in
        -- practice, and a larger one is reported as unreadable, by name.
        maximum_object_size = 134217728
    )
)
