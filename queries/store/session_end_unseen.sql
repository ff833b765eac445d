-- A session found gone after an outage: it ended when last seen, the blind spot after it
-- in end_gap_s.
UPDATE sessions SET ended_at = last_seen,
    end_gap_s = round((julianday(?) - julianday(last_seen)) * 86400, 3)
WHERE id = ?
