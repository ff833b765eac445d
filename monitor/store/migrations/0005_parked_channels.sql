-- Slack channels that refused alerts for good (channel_not_found, not_in_channel, ...).
-- Their outbox rows wait here, unsent, while every other channel keeps delivering;
-- `pgwarden alerts retry-parked` deletes the row and delivery to the channel resumes.
CREATE TABLE parked_channels (
    channel     TEXT PRIMARY KEY,
    error       TEXT NOT NULL,    -- Slack's error code, e.g. channel_not_found
    parked_at   TEXT NOT NULL,
    alerted_at  TEXT              -- when the one alert about it went out through another channel
);
