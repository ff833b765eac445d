-- Session settings by set_config, not the `options` startup parameter, which RDS Proxy does
-- not pass through. UTC keeps stored times comparable as text. The third column says
-- whether this role sees every session's details (pg_read_all_stats).
SELECT
    set_config('statement_timeout', %s, false),
    set_config('TimeZone', 'UTC', false),
    pg_has_role('pg_read_all_stats', 'USAGE')
