-- Every RDS Proxy the store knows and has not retired, in a stable order.
SELECT account_id, region, name, arn, engine_family, endpoint, require_tls, debug_logging,
       auth, fronts, endpoints, networks
FROM proxies
WHERE retired_at IS NULL
ORDER BY account_id, region, name
