-- The public SQL contract (design.md) exists with the documented
-- signatures, return types and security.
SELECT f AS function, p.oid IS NOT NULL AS exists,
       pg_get_function_result(p.oid) AS returns,
       p.prosecdef AS security_definer,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM unnest(ARRAY[
         'cqrs.append(uuid,text,bigint,jsonb)',
         'cqrs.read_stream(uuid,bigint,integer)',
         'cqrs.read_all(bigint,integer)',
         'cqrs.stream_version(uuid)',
         'cqrs.load(uuid,timestamptz)',
         'cqrs.derived_stream_id(text,uuid)',
         'cqrs.drain(timestamptz)',
         'cqrs.wait_for_projections(interval)',
         'cqrs.subscribe(text)',
         'cqrs.poll(text,integer)',
         'cqrs.ack(text,bigint)'
       ]) WITH ORDINALITY AS c(f, n)
  LEFT JOIN pg_proc p ON p.oid = to_regprocedure(c.f)
 ORDER BY c.n;

-- Defaults callers rely on.
SELECT p.oid::regprocedure, pg_get_function_arguments(p.oid)
  FROM pg_proc p
 WHERE p.oid IN ('cqrs.read_stream(uuid,bigint,integer)'::regprocedure,
                 'cqrs.read_all(bigint,integer)'::regprocedure,
                 'cqrs.load(uuid,timestamptz)'::regprocedure,
                 'cqrs.drain(timestamptz)'::regprocedure,
                 'cqrs.wait_for_projections(interval)'::regprocedure,
                 'cqrs.poll(text,integer)'::regprocedure)
 ORDER BY p.oid::regprocedure::text;

SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'cqrs.event'::regclass AND attnum > 0
 ORDER BY attnum;

-- Views for operators and analysts.
SELECT c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'cqrs' AND c.relname IN
       ('projection_status', 'sequencer_status', 'subscription_status', 'open_appends')
 ORDER BY 1;

-- The library is preloaded and its settings are registered.
SELECT name, setting, context FROM pg_settings
 WHERE name LIKE 'cqrs_conf.%' ORDER BY name;
