-- Schema 3 (issue 19): what an access change asked for. requestParameters as canonical JSON,
-- with passwords and sts:ExternalId conditions redacted (monitor/parsing/cloudtrail.py), so
-- the access-change detector can say exactly which fields changed. Rows stored before this
-- have NULL and are judged by iam_auth, event_name and subject alone.
ALTER TABLE access_change_events ADD COLUMN request TEXT;
