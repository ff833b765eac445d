-- A proxy's address is no client: the period's sessions from it say "via proxy <name>".
UPDATE report_sessions SET client = :via WHERE target = :target AND client = :client AND proxy IS NULL
