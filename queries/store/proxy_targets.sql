-- The watched targets reached through an RDS Proxy (endpoint_type proxy), with their proxy.
SELECT name, account_id, region, proxy_name FROM targets
WHERE proxy_name IS NOT NULL AND endpoint_type = 'proxy' AND retired_at IS NULL
