-- When a grant was first observed: just now means it is new.
SELECT first_observed FROM grants
WHERE principal_arn = :principal_arn AND via = :via AND resource_id = :resource_id
    AND db_user = :db_user AND policy = :policy AND statement = :statement
    AND resource_pattern = :resource_pattern
