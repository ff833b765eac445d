-- pgwarden_target_up: 1 if each target's last poll succeeded.
-- A retired target is no longer watched: it has no gauge.
SELECT target, CASE WHEN status = 'ok' THEN 1 ELSE 0 END FROM target_status
WHERE target NOT IN (SELECT name FROM targets WHERE retired_at IS NOT NULL)
ORDER BY target
