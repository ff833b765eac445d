-- How often, and since when, a finding has held: an alert says so.
SELECT count, first_seen FROM findings WHERE fingerprint = ?
