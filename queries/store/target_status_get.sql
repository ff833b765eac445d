-- The outcome of a target's last poll.
SELECT status FROM target_status WHERE target = ?
