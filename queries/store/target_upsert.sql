-- A target as configured or discovered now (not retired); a resource id once known is kept.
INSERT INTO targets (
    name, account_id, region, endpoint, endpoint_type, port, database, db_user, cluster_id,
    instance_id, proxy_name, resource_id, discovered, tags, first_seen, last_seen
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET account_id = excluded.account_id, region = excluded.region,
    endpoint = excluded.endpoint, endpoint_type = excluded.endpoint_type, port = excluded.port,
    database = excluded.database, db_user = excluded.db_user, cluster_id = excluded.cluster_id,
    instance_id = excluded.instance_id, proxy_name = excluded.proxy_name,
    resource_id = COALESCE(excluded.resource_id, targets.resource_id),
    discovered = excluded.discovered, tags = excluded.tags, last_seen = excluded.last_seen,
    retired_at = NULL
