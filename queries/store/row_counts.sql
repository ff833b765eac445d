-- How many sessions, auth events and assume-role events the store holds.
SELECT
    (SELECT count(*) FROM sessions),
    (SELECT count(*) FROM auth_events),
    (SELECT count(*) FROM assume_role_events)
