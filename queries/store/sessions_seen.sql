-- Every session still open on a target was seen by this poll.
UPDATE sessions SET last_seen = ?, seen_count = seen_count + 1
WHERE target = ? AND ended_at IS NULL
