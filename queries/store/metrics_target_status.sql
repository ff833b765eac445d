-- pgwarden_target_up: each target's last poll outcome.
SELECT target, status FROM target_status ORDER BY target
