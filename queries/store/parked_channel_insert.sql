-- Park a channel; one already parked keeps its first error and time.
INSERT OR IGNORE INTO parked_channels (channel, error, parked_at) VALUES (?, ?, ?)
