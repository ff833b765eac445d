-- How far back the CloudTrail history in the store goes.
SELECT min(event_time) FROM assume_role_events
