-- How many alerts wait in the outbox.
SELECT count(*) FROM outbox WHERE sent_at IS NULL
