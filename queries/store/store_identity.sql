-- This store's own identity, which a claim carries into Slack.
SELECT id FROM store_identity
