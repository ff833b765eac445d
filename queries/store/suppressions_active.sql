-- Suppressions recorded with `findings suppress` or review decisions, not yet expired.
SELECT detector, subject_glob, until, reason FROM suppressions WHERE until > ?
