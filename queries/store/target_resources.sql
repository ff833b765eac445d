-- The targets whose resource id is known, which grants name.
SELECT resource_id, region, account_id, name FROM targets WHERE resource_id IS NOT NULL
