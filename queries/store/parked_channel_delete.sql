-- Resume a parked channel.
DELETE FROM parked_channels WHERE channel = ?
