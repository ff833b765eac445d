-- Delay the head of the queue after a failed post.
UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?
