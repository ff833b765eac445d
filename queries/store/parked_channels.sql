-- The parked channels, first parked first.
SELECT channel, error, parked_at, alerted_at FROM parked_channels ORDER BY parked_at
