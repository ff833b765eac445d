-- The doctor's session: statements bounded as the activity source's are.
SELECT set_config('statement_timeout', %s, false)
