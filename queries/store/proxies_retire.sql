-- Every proxy not in :kept (a JSON list of [account, region, name]), retired now.
UPDATE proxies SET retired_at = :now
WHERE retired_at IS NULL
  AND json_array(account_id, region, name) NOT IN (SELECT value FROM json_each(:kept))
