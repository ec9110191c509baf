-- Event store core: reading (read_stream, read_all, stream_version), folding
-- (cqrs.load with and without as_of, snapshots) and derived stream ids.
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS cqrs_store_read_load;
CREATE DATABASE cqrs_store_read_load;
\c cqrs_store_read_load
SET client_min_messages = warning;
CREATE EXTENSION cqrs_conf;
RESET client_min_messages;

\set a '''aaaaaaaa-0000-4000-8000-00000000000a'''
\set b '''bbbbbbbb-0000-4000-8000-00000000000b'''
\set s1 '''51515151-0000-4000-8000-000000000001'''
\set s0 '''50505050-0000-4000-8000-000000000000'''
\set t '''7e7e7e7e-0000-4000-8000-00000000000e'''
\set big '''b1b1b1b1-0000-4000-8000-0000000000b1'''

-- n events {"type": "E<i>", "data": {"k<i mod 3>": i, "last": i}} for i in from..to
CREATE FUNCTION evs(from_i int, to_i int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(jsonb_build_object('type', 'E' || i,
                                        'data', jsonb_build_object('k' || (i % 3), i, 'last', i))
                     ORDER BY i)
      FROM generate_series(from_i, to_i) i
$$;

SET cqrs_conf.snapshot_every = 0;

\echo == read_stream: version order, from_version, max_count
SELECT cqrs.append(:a, 'ReadTest', -1, evs(0, 5));
SELECT cqrs.append(:b, 'ReadTest', -1, evs(0, 1));
SELECT cqrs.append(:a, 'ReadTest', 5, evs(6, 6));
SELECT version, event_type, data FROM cqrs.read_stream(:a);
SELECT version, event_type FROM cqrs.read_stream(:a, 4);
SELECT version, event_type FROM cqrs.read_stream(:a, 2, 3);
SELECT version, event_type FROM cqrs.read_stream(:a, max_count => 2);
SELECT count(*) FROM cqrs.read_stream(:a, 7);
SELECT count(*) FROM cqrs.read_stream('00000000-0000-4000-8000-000000000000');
SELECT count(*) FROM cqrs.read_stream(:a, 0, 0);
-- the rows are cqrs.event, with the columns of the contract
SELECT DISTINCT pg_typeof(e) FROM cqrs.read_stream(:b) e;
SELECT stream_id = :b AS right_stream, stream_type, version, event_type, data, metadata,
       event_id IS NOT NULL AS has_id, recorded_at IS NOT NULL AS has_time,
       global_position IS NULL AS not_yet_sequenced
  FROM cqrs.read_stream(:b);

\echo == stream_version
SELECT cqrs.stream_version(:a), cqrs.stream_version(:b),
       cqrs.stream_version('00000000-0000-4000-8000-000000000000'),
       cqrs.stream_version(NULL) IS NULL AS null_for_null;

\echo == read_all: only sequenced events, in global order
SELECT count(*) AS readable_before_sequencing FROM cqrs.read_all();
SELECT cqrs.drain() > 0 AS drained;
SELECT DISTINCT pg_typeof(e) FROM cqrs.read_all() e;
SELECT global_position, version, event_type,
       CASE stream_id WHEN :a THEN 'a' WHEN :b THEN 'b' END AS stream
  FROM cqrs.read_all();
SELECT global_position FROM cqrs.read_all(3, 2);
SELECT global_position FROM cqrs.read_all(after_position => 7);
SELECT count(*) FROM cqrs.read_all(9);
SELECT count(*) FROM cqrs.read_all(0, 0);
-- an appended but not yet sequenced event is not readable; it is after drain
SELECT cqrs.append(:b, 'ReadTest', 1, evs(2, 2));
SELECT count(*) AS readable FROM cqrs.read_all(9);
SELECT cqrs.drain() > 0 AS drained;
SELECT global_position, version,
       CASE stream_id WHEN :a THEN 'a' WHEN :b THEN 'b' END AS stream
  FROM cqrs.read_all(9);
-- read_all pages through the whole log, positions strictly increasing
WITH RECURSIVE pages(after, n) AS (
    SELECT 0::bigint, 0
    UNION ALL
    SELECT (SELECT max(global_position) FROM cqrs.read_all(after, 3)), n + 1
      FROM pages WHERE EXISTS (SELECT 1 FROM cqrs.read_all(after, 3))
)
SELECT array_agg(after ORDER BY n) AS checkpoints FROM pages;

\echo == load: generic fold (data merged key by key), NULL for a missing stream
SELECT cqrs.load(:a) - 'streamId' AS loaded, (cqrs.load(:a)->>'streamId')::uuid = :a AS right_id;
SELECT cqrs.load(:b) -> 'state';
SELECT cqrs.load('00000000-0000-4000-8000-000000000000') IS NULL AS missing_is_null;
SELECT cqrs.load(NULL) IS NULL AS null_is_null;
-- events with empty data and an empty first event
SELECT cqrs.append('e0e0e0e0-0000-4000-8000-000000000000', 'ReadTest', -1,
    '[{"type": "Empty", "data": {}}, {"type": "Empty", "data": {}},
      {"type": "Full", "data": {"x": {"deep": [1, 2]}}}, {"type": "Empty", "data": {}},
      {"type": "Full", "data": {"y": "z", "x": null}}]');
SELECT cqrs.load('e0e0e0e0-0000-4000-8000-000000000000') -> 'state';
-- a long stream (several fetch batches of the fold) in one append
SELECT cqrs.append(:big, 'ReadTest', -1, evs(1, 700));
SELECT cqrs.load(:big) -> 'state';
SELECT cqrs.load(:big) -> 'version';

\echo == load in the appending transaction sees its own events
BEGIN;
SELECT cqrs.append(:b, 'ReadTest', 2, evs(3, 3));
SELECT cqrs.load(:b) -> 'version' AS version, cqrs.load(:b) -> 'state' -> 'eventCount' AS count;
ROLLBACK;
SELECT cqrs.load(:b) -> 'version' AS version;

\echo == load with as_of: the state as it was then (each append its own transaction)
-- a pg_sleep in FROM runs after now() is fixed: each transaction starts later
SELECT cqrs.append(:t, 'ReadTest', -1, evs(0, 0)) FROM pg_sleep(0.002);
SELECT cqrs.append(:t, 'ReadTest', 0, evs(1, 2)) FROM pg_sleep(0.002);
SELECT cqrs.append(:t, 'ReadTest', 2, evs(3, 3)) FROM pg_sleep(0.002);
SELECT cqrs.append(:t, 'ReadTest', 3, evs(4, 4)) FROM pg_sleep(0.002);
SELECT count(DISTINCT recorded_at) AS distinct_times FROM cqrs.events WHERE stream_id = :t;
SELECT e.version AS recorded_with,
       cqrs.load(:t, e.recorded_at) -> 'version' AS version_as_of,
       cqrs.load(:t, e.recorded_at) -> 'state' -> 'data' AS data_as_of,
       cqrs.load(:t, e.recorded_at - interval '1 microsecond') -> 'version' AS version_just_before
  FROM cqrs.events e WHERE e.stream_id = :t ORDER BY e.version;
SELECT cqrs.load(:t, (SELECT min(recorded_at) FROM cqrs.events WHERE stream_id = :t)
                     - interval '1 second') IS NULL AS null_before_first_event;
SELECT cqrs.load(:t, now() + interval '1 day') = cqrs.load(:t) AS future_as_of_is_current;

\echo == snapshots every cqrs_conf.snapshot_every events; loads equal a fold without them
SET cqrs_conf.snapshot_every = 3;
-- identical histories, one with snapshots, one without; separate transactions
-- (the sequencer takes the snapshots: cqrs.drain() after each append)
SELECT cqrs.append(:s1, 'SnapTest', -1, evs(0, 1));                 -- v1
SELECT cqrs.drain() AS drained \gset
SELECT cqrs.append(:s1, 'SnapTest', 1, evs(2, 2));                  -- v2: snapshot
SELECT cqrs.drain() AS drained \gset
SELECT cqrs.append(:s1, 'SnapTest', 2, evs(3, 3));                  -- v3
SELECT cqrs.drain() AS drained \gset
SELECT cqrs.append(:s1, 'SnapTest', 3, evs(4, 10));                 -- v10: crosses 2 multiples
SELECT cqrs.drain() AS drained \gset
SELECT cqrs.append(:s1, 'SnapTest', 10, evs(11, 11));               -- v11: snapshot
SELECT cqrs.drain() AS drained \gset
SELECT cqrs.append(:s1, 'SnapTest', NULL, evs(12, 12));             -- v12
SELECT cqrs.drain() AS drained \gset
SELECT version, stream_type, schema_version, state,
       max_recorded_at = (SELECT max(recorded_at) FROM cqrs.events e
                           WHERE e.stream_id = s.stream_id AND e.version <= s.version) AS max_recorded_at_ok
  FROM cqrs.snapshots s WHERE stream_id = :s1 ORDER BY version;
SET cqrs_conf.snapshot_every = 0;
SELECT cqrs.append(:s0, 'SnapTest', -1, evs(0, 1));
SELECT cqrs.append(:s0, 'SnapTest', 1, evs(2, 2));
SELECT cqrs.append(:s0, 'SnapTest', 2, evs(3, 3));
SELECT cqrs.append(:s0, 'SnapTest', 3, evs(4, 10));
SELECT cqrs.append(:s0, 'SnapTest', 10, evs(11, 11));
SELECT cqrs.append(:s0, 'SnapTest', NULL, evs(12, 12));
SELECT count(*) AS snapshots_without FROM cqrs.snapshots WHERE stream_id = :s0;
SELECT cqrs.load(:s1) - 'streamId' = cqrs.load(:s0) - 'streamId' AS same_state,
       cqrs.load(:s1) -> 'version' AS version,
       cqrs.load(:s1) -> 'state' AS state;
-- as_of across the snapshots gives the same as the fold without snapshots
SELECT e1.version,
       cqrs.load(:s1, e1.recorded_at) - 'streamId' = cqrs.load(:s0, e0.recorded_at) - 'streamId' AS same_state,
       cqrs.load(:s1, e1.recorded_at) -> 'version' AS version_as_of
  FROM cqrs.events e1 JOIN cqrs.events e0 ON e0.stream_id = :s0 AND e0.version = e1.version
 WHERE e1.stream_id = :s1 ORDER BY e1.version;
-- a rolled-back append leaves no snapshot behind
SET cqrs_conf.snapshot_every = 3;
BEGIN;
SELECT cqrs.append(:s1, 'SnapTest', 12, evs(13, 14));
SELECT cqrs.drain() AS drained \gset
SELECT count(*) AS snapshots_in_tx FROM cqrs.snapshots WHERE stream_id = :s1;
ROLLBACK;
SELECT count(*) AS snapshots_after_rollback FROM cqrs.snapshots WHERE stream_id = :s1;

\echo == load starts from the latest snapshot ...
-- These show what a fold reads from cqrs.snapshots, so the session's state
-- cache (which would serve the state this session folded before) is off.
SET cqrs_conf.state_cache_size = 0;
-- a doctored snapshot at the latest version shows that load trusts it
INSERT INTO cqrs.snapshots (stream_id, version, stream_type, schema_version, state, max_recorded_at)
SELECT :s1, 12, 'SnapTest', schema_version,
       '{"data": {"doctored": true}, "lastEventType": "Doctored", "eventCount": 999}',
       max_recorded_at
  FROM cqrs.snapshots WHERE stream_id = :s1 AND version = 11;
SELECT cqrs.load(:s1) -> 'state' AS state_from_snapshot;
SELECT cqrs.append(:s1, 'SnapTest', 12, '[{"type": "After", "data": {"after": 1}}]');
SELECT cqrs.load(:s1) -> 'state' AS state_from_snapshot_and_tail;
\echo == ... but ignores a snapshot of another schema_version
UPDATE cqrs.snapshots SET schema_version = schema_version + 100
 WHERE stream_id = :s1 AND version = 12;
SELECT cqrs.load(:s1) -> 'state' AS state_without_stale_snapshot;
SELECT cqrs.append(:s0, 'SnapTest', 12, '[{"type": "After", "data": {"after": 1}}]');
SELECT cqrs.load(:s1) - 'streamId' = cqrs.load(:s0) - 'streamId' AS same_as_without_snapshots;
-- as_of before the stale snapshot
SELECT cqrs.load(:s1, (SELECT recorded_at FROM cqrs.events WHERE stream_id = :s1 AND version = 3))
       -> 'version' AS version_as_of;

\echo == cqrs_conf.snapshot_every is a superuser setting
SELECT setting, context FROM pg_settings WHERE name = 'cqrs_conf.snapshot_every';

\echo == state cache: a later fold in the session applies only the newer events
RESET cqrs_conf.state_cache_size;
SET cqrs_conf.snapshot_every = 0;
\set c '''c0c0c0c0-0000-4000-8000-00000000000c'''
SELECT cqrs.append(:c, 'CacheTest', -1, evs(0, 2));
SELECT cqrs.load(:c) -> 'state' AS folded;
SELECT cqrs.append(:c, 'CacheTest', 2, evs(3, 3));
-- a doctored snapshot at the latest version: the cache does not read it ...
INSERT INTO cqrs.snapshots (stream_id, version, stream_type, schema_version, state, max_recorded_at)
VALUES (:c, 3, 'CacheTest', 1, '{"data": {"doctored": true}, "lastEventType": "Doctored", "eventCount": 999}', now());
SELECT cqrs.load(:c) -> 'state' AS from_cache_and_tail;
-- ... a session without the cache does
SET cqrs_conf.state_cache_size = 0;
SELECT cqrs.load(:c) -> 'state' AS from_doctored_snapshot;
RESET cqrs_conf.state_cache_size;
DELETE FROM cqrs.snapshots WHERE stream_id = :c;
SELECT cqrs.load(:c) -> 'state' AS cached_again;

\echo == the cache never keeps what was rolled back
-- rolled back: the next event at the same version is another one
BEGIN;
SELECT cqrs.append(:c, 'CacheTest', 3, '[{"type": "RolledBack", "data": {"rolled_back": true}}]');
SELECT cqrs.load(:c) -> 'state' AS own_uncommitted_event;
ROLLBACK;
SELECT cqrs.append(:c, 'CacheTest', 3, '[{"type": "Kept", "data": {"kept": 4}}]');
SELECT cqrs.load(:c) -> 'state' AS after_rollback;
-- rolled back to a savepoint
BEGIN;
SAVEPOINT s;
SELECT cqrs.append(:c, 'CacheTest', 4, '[{"type": "RolledBack", "data": {"rolled_back": true}}]');
SELECT cqrs.load(:c) -> 'version' AS own_version;
ROLLBACK TO SAVEPOINT s;
SELECT cqrs.append(:c, 'CacheTest', 4, '[{"type": "Kept", "data": {"kept": 5}}]');
SELECT cqrs.load(:c) -> 'state' AS after_savepoint_rollback;
COMMIT;
-- prepared, then rolled back
BEGIN;
SELECT cqrs.append(:c, 'CacheTest', 5, '[{"type": "RolledBack", "data": {"rolled_back": true}}]');
SELECT cqrs.load(:c) -> 'version' AS own_version;
PREPARE TRANSACTION 'cache_test';
ROLLBACK PREPARED 'cache_test';
SELECT cqrs.append(:c, 'CacheTest', 5, '[{"type": "Kept", "data": {"kept": 6}}]');
SELECT cqrs.load(:c) -> 'state' AS after_prepared_rollback;
-- the same as a fold without the cache
SELECT cqrs.load(:c) AS with_cache \gset
SET cqrs_conf.state_cache_size = 0;
SELECT cqrs.load(:c) = :'with_cache'::jsonb AS same_without_cache;
RESET cqrs_conf.state_cache_size;

\echo == tails longer than one read (256 events), from scratch and after a cached state
\set l '''1e1e1e1e-0000-4000-8000-00000000001e'''
SELECT cqrs.append(:l, 'CacheTest', -1, evs(0, 299));
SELECT cqrs.load(:l) -> 'version' AS folded_version;
SELECT cqrs.append(:l, 'CacheTest', 299, evs(300, 899));
SELECT cqrs.load(:l) AS long_tail \gset
SELECT :'long_tail'::jsonb -> 'version' AS version,
       :'long_tail'::jsonb -> 'state' -> 'eventCount' AS event_count,
       :'long_tail'::jsonb -> 'state' -> 'data' AS data;
SET cqrs_conf.state_cache_size = 0;
SELECT cqrs.load(:l) = :'long_tail'::jsonb AS same_without_cache;
RESET cqrs_conf.state_cache_size;

\echo == a recreated extension is a new log: nothing cached from the old one
SELECT cqrs.load(:c) -> 'version' AS cached_version;
SET client_min_messages = warning;
DROP EXTENSION cqrs_conf CASCADE;
CREATE EXTENSION cqrs_conf;
RESET client_min_messages;
SELECT cqrs.append(:c, 'CacheTest', -1, '[{"type": "New", "data": {"fresh": true}}]');
SELECT cqrs.load(:c) -> 'state' AS new_log;

\echo == derived_stream_id: deterministic name-based (version 5) uuid
SELECT cqrs.derived_stream_id('SeatsAvailability', '11111111-1111-4111-8111-111111111111');
SELECT cqrs.derived_stream_id('Order', '11111111-1111-4111-8111-111111111111');
-- the RFC 4122 example: uuid5(NAMESPACE_DNS, 'www.example.com')
SELECT cqrs.derived_stream_id('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8');
SELECT cqrs.derived_stream_id('SeatsAvailability', '11111111-1111-4111-8111-111111111111')
     = cqrs.derived_stream_id('SeatsAvailability', '11111111-1111-4111-8111-111111111111') AS deterministic,
       cqrs.derived_stream_id('SeatsAvailability', '11111111-1111-4111-8111-111111111111')
     <> cqrs.derived_stream_id('SeatsAvailability', '11111111-1111-4111-8111-111111111112') AS differs_by_source,
       cqrs.derived_stream_id('SeatsAvailability', '11111111-1111-4111-8111-111111111111')
     <> '11111111-1111-4111-8111-111111111111' AS differs_from_source;
SELECT cqrs.derived_stream_id(NULL, '11111111-1111-4111-8111-111111111111') IS NULL AS strict;
SELECT cqrs.derived_stream_id('', '11111111-1111-4111-8111-111111111111');
SELECT provolatile FROM pg_proc WHERE oid = 'cqrs.derived_stream_id'::regproc;

\echo == the generic fold merges the data objects as the jsonb || operator does
CREATE AGGREGATE jsonb_merge(jsonb) (sfunc = jsonb_concat, stype = jsonb, initcond = '{}');
SET cqrs_conf.snapshot_every = 2;
SET cqrs_conf.state_cache_size = 0;
\set g '''9e9e9e9e-0000-4000-8000-000000000001'''
SELECT cqrs.append(:g, 'GenTest', -1, '[
    {"type": "A", "data": {"a": 1, "nested": {"x": 1, "y": [1, 2]}, "s": "one"}},
    {"type": "B", "data": {"b": null, "nested": {"z": true}}},
    {"type": "C", "data": {"a": 2.5, "list": [{"k": "v"}], "s": "two"}}]');
SELECT cqrs.drain() AS drained \gset
SELECT count(*) AS snapshots FROM cqrs.snapshots WHERE stream_id = :g;
SELECT cqrs.append(:g, 'GenTest', 2, '[{"type": "D", "data": {"t": false, "aa": "a longer key", "": 0}}]');
SELECT cqrs.load(:g) -> 'state' AS state_from_snapshot_and_tail;
SELECT cqrs.load(:g) -> 'state' -> 'data'
       = (SELECT jsonb_merge(data ORDER BY version) FROM cqrs.events WHERE stream_id = :g) AS same_as_concat;
DELETE FROM cqrs.snapshots WHERE stream_id = :g;
SELECT cqrs.load(:g) -> 'state' -> 'data'
       = (SELECT jsonb_merge(data ORDER BY version) FROM cqrs.events WHERE stream_id = :g) AS same_without_snapshot;
RESET cqrs_conf.snapshot_every;
RESET cqrs_conf.state_cache_size;

\c :orig_db
SET client_min_messages = warning;
DROP DATABASE cqrs_store_read_load;
