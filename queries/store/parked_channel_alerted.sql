-- The alert saying the channel is parked went out.
UPDATE parked_channels SET alerted_at = ? WHERE channel = ?
