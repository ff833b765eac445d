-- Connection and auth lines of one log group, from CloudWatch Logs data that a
-- subscription filter delivered to S3 through Firehose (one DATA_MESSAGE JSON object per
-- line, with logEvents). `dt` is the hourly partition ('yyyy/MM/dd/HH', as Firehose writes
-- its S3 prefixes); the filter runs inside Athena so only the few auth lines come back.
-- Parameters: first hour, last hour, log group, first event time (ms since the epoch).
SELECT
    e.id AS event_id,
    e."timestamp" AS event_ms,
    e.message AS message
FROM pgwarden_rds_logs AS l
CROSS JOIN UNNEST(l.logevents) AS t(e)
WHERE l.dt >= ?
  AND l.dt <= ?
  AND l.loggroup = ?
  AND l.messagetype = 'DATA_MESSAGE'
  AND e."timestamp" >= ?
  AND regexp_like(
      e.message,
      'connection received|connection authenticated|connection authorized|disconnection|pam_authenticate|authentication failed|pg_hba\.conf|Connection matched|does not exist|not permitted to log in|too many|reserved for|Failed to authenticate|Failed to authorize'
  )
ORDER BY e."timestamp"
