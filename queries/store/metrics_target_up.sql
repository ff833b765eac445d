-- pgwarden_target_up: 1 if each target's last poll succeeded.
SELECT target, CASE WHEN status = 'ok' THEN 1 ELSE 0 END FROM target_status ORDER BY target
