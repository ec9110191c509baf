-- The public SQL contract (design.md) exists with the documented signatures.
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS returns,
       p.prosecdef AS security_definer
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'cqrs'
 ORDER BY p.oid::regprocedure::text;

SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'cqrs.event'::regclass AND attnum > 0
 ORDER BY attnum;

-- The library is preloaded and its settings are registered.
SELECT name, setting, context FROM pg_settings
 WHERE name LIKE 'cqrs_conf.%' ORDER BY name;
