-- The targets discovery found in an account last time it could look.
SELECT name, region, endpoint, endpoint_type, port, database, db_user, cluster_id,
    instance_id, proxy_name, resource_id
FROM targets WHERE account_id = ? AND discovered = 1 AND retired_at IS NULL
