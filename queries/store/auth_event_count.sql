-- How many auth events a target has since :since (none: the store holds no evidence).
SELECT count(*) FROM auth_events WHERE target = :target AND time >= :since
