-- Whether a target of this name is known.
SELECT 1 FROM targets WHERE name = ?
