-- Mute a detector's findings whose subject matches a glob, until a time.
INSERT INTO suppressions (detector, subject_glob, until, reason, created_at) VALUES (?, ?, ?, ?, ?)
