-- How many lines of one read could not be parsed, with the first few as samples.
INSERT INTO auth_log_unparsed (target, source, seen_at, lines, unparsed, samples)
VALUES (:target, :source, :seen_at, :lines, :unparsed, :samples)
