-- Schema 6: delivery claims (monitor/outputs/alerts/outbox.py), the store's own identity, and the
-- blind spot of sessions that ended during an outage.
-- A row is claimed in the store before it is posted: claim_id (one per message, shared by
-- the rows a digest covers) and when. A claimed row that is not marked sent may already be
-- in Slack (a timeout, a crash, a full disk between post and mark): the next deliverer looks
-- for its claim in the channel's history before it posts again.
ALTER TABLE outbox ADD COLUMN claim_id INTEGER;
ALTER TABLE outbox ADD COLUMN claimed_at TEXT;
CREATE INDEX outbox_claimed ON outbox (claim_id) WHERE sent_at IS NULL AND claim_id IS NOT NULL;

-- Travels in each message's metadata with its claim, so that a message another store posted
-- into the same channel is never taken for one of ours.
CREATE TABLE store_identity (
    id              TEXT NOT NULL
);
INSERT INTO store_identity (id) VALUES (lower(hex(randomblob(16))));

-- A session found gone by the first good poll after an outage ended while nobody could
-- look: ended_at is then its last_seen, and this is how long the blind spot after it was.
ALTER TABLE sessions ADD COLUMN end_gap_s REAL;
