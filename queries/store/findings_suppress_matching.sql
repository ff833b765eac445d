-- The recorded findings a new suppression covers. SQLite's GLOB and fnmatchcase agree on
-- *, ? and [c], which is all a subject glob holds.
UPDATE findings SET status = 'suppressed'
WHERE detector = ? AND subject GLOB ? AND status != 'resolved'
