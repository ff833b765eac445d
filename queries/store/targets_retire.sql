-- Every target not in :kept (a JSON list of names), retired now: no longer resolved.
UPDATE targets SET retired_at = :now
WHERE retired_at IS NULL AND name NOT IN (SELECT value FROM json_each(:kept))
