-- pgwarden_proxy_log_unrecognised_ratio: the share of unrecognised lines in each proxy's last
-- full window of log lines (the rds-proxy source keeps it in its cursor; monitor/sources/pglogs/proxy.py).
SELECT json_extract(value, '$.proxy'), json_extract(value, '$.rate.share')
FROM cursors
WHERE source = 'pglogs.rds-proxy' AND json_extract(value, '$.rate.share') IS NOT NULL
ORDER BY 1
