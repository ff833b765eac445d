-- pgwarden_alert_channel_parked: Slack channels parked after a permanent error (one each).
SELECT channel, 1 FROM parked_channels
