-- Schema 8: a target or RDS Proxy no longer resolved (removed from the config, or no longer
-- found by discovery) is retired, not deleted: its history stays for the reports, but
-- nothing judges it as watched any more, and a retired proxy's subnets no longer mark
-- addresses "via proxy" (monitor/store/targets.py, monitor/store/proxies.py).
ALTER TABLE targets ADD COLUMN retired_at TEXT;
ALTER TABLE proxies ADD COLUMN retired_at TEXT;
