-- The finding as last recorded, JSON.
SELECT details FROM findings WHERE fingerprint = ?
