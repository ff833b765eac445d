-- An RDS Proxy as discovery saw it last (not retired).
INSERT INTO proxies (
    account_id, region, name, arn, engine_family, endpoint, require_tls, debug_logging,
    auth, fronts, endpoints, networks, seen_at
) VALUES (
    :account_id, :region, :name, :arn, :engine_family, :endpoint, :require_tls, :debug_logging,
    :auth, :fronts, :endpoints, :networks, :seen_at
)
ON CONFLICT (account_id, region, name) DO UPDATE SET
    arn = excluded.arn,
    engine_family = excluded.engine_family,
    endpoint = excluded.endpoint,
    require_tls = excluded.require_tls,
    debug_logging = excluded.debug_logging,
    auth = excluded.auth,
    fronts = excluded.fronts,
    endpoints = excluded.endpoints,
    networks = excluded.networks,
    seen_at = excluded.seen_at,
    retired_at = NULL
