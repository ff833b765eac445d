"""The outputs station: Slack alerts, access-review reports, metrics and the IAM policy."""
