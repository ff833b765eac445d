-- The targets discovery found in an account before.
SELECT name, region, endpoint, endpoint_type, port, database, db_user, cluster_id,
    instance_id, proxy_name, resource_id
FROM targets WHERE account_id = ? AND discovered = 1
