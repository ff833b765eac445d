-- The Athena table over Firehose-delivered CloudWatch Logs data (newline-delimited JSON,
-- gzip). Partition projection over the hourly prefixes Firehose writes, so no crawler and
-- no MSCK REPAIR. Replace the LOCATION and the projection range before running it.
CREATE EXTERNAL TABLE IF NOT EXISTS pgwarden_rds_logs (
    messagetype string,
    owner string,
    loggroup string,
    logstream string,
    subscriptionfilters array<string>,
    logevents array<struct<id: string, `timestamp`: bigint, message: string>>
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://example-log-bucket/rds-postgresql/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy/MM/dd/HH',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'HOURS',
    'projection.dt.range' = '2024/01/01/00,NOW',
    'storage.location.template' = 's3://example-log-bucket/rds-postgresql/${dt}/'
)
