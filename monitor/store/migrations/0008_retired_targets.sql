-- Schema 8: a target no longer resolved (removed from the config, or no longer found by
-- discovery) is retired, not deleted: its history stays for the reports, but nothing
-- judges it as watched any more (monitor/store/targets.py save_targets).
ALTER TABLE targets ADD COLUMN retired_at TEXT;
