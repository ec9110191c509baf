-- Event store core: bad input to cqrs.append gets a fitting SQLSTATE and
-- writes nothing; cqrs.events is append-only for everyone.
\set test_db cqrs_store_errors
\i sql/include/fresh_database.sql

-- Appends events to a fresh stream; returns 'ok' or SQLSTATE and message.
CREATE FUNCTION try_append(events jsonb, expected bigint DEFAULT NULL) RETURNS text
LANGUAGE sql AS $$
    SELECT try(format('SELECT cqrs.append(%L, %L, %s, %L)',
                      'eeeeeeee-0000-4000-8000-000000000001', 'StoreTest',
                      coalesce(expected::text, 'NULL'), events))
$$;

\echo == bad events argument: 22023 (22P02 for a malformed id)
SELECT input, try_append(input::jsonb) AS result
  FROM (VALUES
    ('{"type": "X", "data": {}}'),
    ('"X"'),
    ('1'),
    ('null'),
    ('[]'),
    ('[1]'),
    ('[null]'),
    ('["X"]'),
    ('[[{"type": "X", "data": {}}]]'),
    ('[{"data": {}}]'),
    ('[{"type": 1, "data": {}}]'),
    ('[{"type": null, "data": {}}]'),
    ('[{"type": "", "data": {}}]'),
    ('[{"type": "X"}]'),
    ('[{"type": "X", "data": null}]'),
    ('[{"type": "X", "data": []}]'),
    ('[{"type": "X", "data": "x"}]'),
    ('[{"type": "X", "data": 3}]'),
    ('[{"type": "X", "data": {}, "metadata": []}]'),
    ('[{"type": "X", "data": {}, "metadata": "m"}]'),
    ('[{"type": "X", "data": {}, "id": "not-a-uuid"}]'),
    ('[{"type": "X", "data": {}, "id": "e0000000-0000-4000-8000-00000000000"}]'),
    ('[{"type": "X", "data": {}, "id": "e0000000-0000-4000-8000-0000000000001"}]'),
    ('[{"type": "X", "data": {}, "id": "{e0000000-0000-4000-8000-000000000001"}]'),
    ('[{"type": "X", "data": {}, "id": ""}]'),
    ('[{"type": "X", "data": {}, "id": 42}]'),
    ('[{"type": "X", "data": {}, "meta": {}}]'),
    ('[{"type": "X", "data": {}, "Type": "Y"}]'),
    ('[{"type": "X", "data": {}}, {"type": "Y", "data": {}, "extra": 1}]'),
    ('[{"type": "X", "data": {}}, {"type": "X", "data": {}}, {"type": "X", "data": {}},
       {"type": "X", "data": {}}, {"type": "X", "data": {}}, {"type": "Y"}]')
  ) AS t(input);

\echo == bad scalar arguments (NULL: 23502)
SELECT try($$SELECT cqrs.append(NULL, 'StoreTest', NULL, '[{"type": "X", "data": {}}]')$$);
SELECT try($$SELECT cqrs.append('eeeeeeee-0000-4000-8000-000000000001', NULL, NULL, '[{"type": "X", "data": {}}]')$$);
SELECT try($$SELECT cqrs.append('eeeeeeee-0000-4000-8000-000000000001', 'StoreTest', NULL, NULL)$$);
SELECT try($$SELECT cqrs.append('eeeeeeee-0000-4000-8000-000000000001', '', NULL, '[{"type": "X", "data": {}}]')$$);
SELECT try_append('[{"type": "X", "data": {}}]', -2);
SELECT try_append('[{"type": "X", "data": {}}]', -9223372036854775808);
-- a bad input is refused even when the version check would also fail
SELECT try_append('[{"type": "X"}]', 5);
-- the client sees the hint too
SELECT cqrs.append('eeeeeeee-0000-4000-8000-000000000001', 'StoreTest', -3, '[{"type": "X", "data": {}}]');
SELECT cqrs.append('eeeeeeee-0000-4000-8000-000000000001', 'StoreTest', NULL, '{"type": "X", "data": {}}');

\echo == nothing was written by any of them
SELECT count(*) AS events, cqrs.stream_version('eeeeeeee-0000-4000-8000-000000000001') FROM cqrs.events;

\echo == accepted forms: metadata and id null, braced and upper-case ids
SELECT try_append('[{"type": "X", "data": {}, "metadata": null, "id": null}]');
SELECT try_append('[{"type": "X", "data": {"k": [1, {"n": null}]}, "metadata": {"m": true},
                     "id": "{E0000000-0000-4000-8000-0000000000AB}"}]');
SELECT try_append('[{"type": "X", "data": {}, "id": "e00000000000400080000000000000ac"}]');
SELECT version, event_type, data, metadata,
       CASE WHEN version = 0 THEN 'generated, version ' || substr(event_id::text, 15, 1)
            ELSE event_id::text END AS event_id
  FROM cqrs.read_stream('eeeeeeee-0000-4000-8000-000000000001') ORDER BY version;

\echo == append-only: UPDATE, DELETE, TRUNCATE refused for the owner (a superuser)
SELECT try($$UPDATE cqrs.events SET data = '{"forged": true}'$$);
SELECT try($$UPDATE cqrs.events SET global_position = 1 WHERE version = 0$$);
SELECT try($$UPDATE cqrs.events SET data = data WHERE false$$);
SELECT try($$DELETE FROM cqrs.events$$);
SELECT try($$DELETE FROM cqrs.events WHERE false$$);
SELECT try($$TRUNCATE cqrs.events$$);
SELECT try($$TRUNCATE cqrs.events CASCADE$$);
SELECT try($$MERGE INTO cqrs.events e USING (SELECT 1) s ON true
             WHEN MATCHED THEN DELETE$$);
SELECT try($$MERGE INTO cqrs.events e USING (SELECT 1) s ON true
             WHEN MATCHED THEN UPDATE SET event_type = 'Forged'$$);
SELECT try($$INSERT INTO cqrs.events SELECT * FROM cqrs.events
             ON CONFLICT (stream_id, version) DO UPDATE SET data = '{}'$$);
-- as the client sees it
UPDATE cqrs.events SET data = '{}';

\echo == also with session_replication_role = replica (triggers are ENABLE ALWAYS)
SET session_replication_role = replica;
SELECT try($$UPDATE cqrs.events SET data = '{"forged": true}'$$);
SELECT try($$DELETE FROM cqrs.events$$);
SELECT try($$TRUNCATE cqrs.events$$);
RESET session_replication_role;
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'cqrs.events'::regclass AND NOT tgisinternal ORDER BY tgname;

\echo == also for a role that holds the privileges
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_cqrs_store_writer;
RESET client_min_messages;
CREATE ROLE regress_cqrs_store_writer;
GRANT USAGE ON SCHEMA cqrs TO regress_cqrs_store_writer;
GRANT SELECT, UPDATE, DELETE, TRUNCATE ON cqrs.events TO regress_cqrs_store_writer;
SET ROLE regress_cqrs_store_writer;
SELECT try($$UPDATE cqrs.events SET data = '{"forged": true}'$$);
SELECT try($$DELETE FROM cqrs.events$$);
SELECT try($$TRUNCATE cqrs.events$$);
RESET ROLE;

\echo == the trigger function cannot be called directly
SELECT try($$SELECT cqrs.refuse_event_change()$$);

\echo == the log is unchanged
SELECT count(*) AS events,
       count(*) FILTER (WHERE data ? 'forged') AS forged,
       count(*) FILTER (WHERE global_position > 0) AS with_position
  FROM cqrs.events;
SELECT cqrs.drain() > 0 AS drained;
SELECT global_position, version FROM cqrs.events ORDER BY global_position;

\i sql/include/drop_database.sql
SET client_min_messages = warning;
DROP ROLE regress_cqrs_store_writer;
