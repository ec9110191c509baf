-- Event store core: cqrs.append semantics (design.md section 3).
-- Runs in a database of its own so that stream versions and global
-- positions do not depend on what other test files appended.
\set test_db cqrs_store_append
\i sql/include/fresh_database.sql

CREATE FUNCTION n_events() RETURNS bigint LANGUAGE sql
    AS $$ SELECT count(*) FROM cqrs.events $$;

\set a '''aaaaaaaa-0000-4000-8000-000000000001'''
\set b '''bbbbbbbb-0000-4000-8000-000000000002'''
\set c '''cccccccc-0000-4000-8000-000000000003'''
\set d '''dddddddd-0000-4000-8000-000000000004'''

\echo == versions are 0-based; a missing stream is at version -1
SELECT cqrs.stream_version(:a);
SELECT cqrs.append(:a, 'StoreTest', -1, '[{"type": "Opened", "data": {"n": 1}}]');
SELECT cqrs.stream_version(:a);
SELECT cqrs.append(:a, 'StoreTest', 0,
    '[{"type": "Changed", "data": {"n": 2}}, {"type": "Changed", "data": {"n": 3}}]');
SELECT cqrs.append(:a, 'StoreTest', NULL, '[{"type": "Changed", "data": {"n": 4}}]');
SELECT cqrs.stream_version(:a);
SELECT version, stream_type, event_type, data, metadata,
       global_position = 0 AS unsequenced
  FROM cqrs.events WHERE stream_id = :a ORDER BY version;

\echo == expected_version mismatch: 40001 naming stream, expected and actual; nothing written
SELECT try($$SELECT cqrs.append('aaaaaaaa-0000-4000-8000-000000000001', 'StoreTest', 1,
    '[{"type": "Changed", "data": {}}]')$$);
SELECT try($$SELECT cqrs.append('aaaaaaaa-0000-4000-8000-000000000001', 'StoreTest', -1,
    '[{"type": "Changed", "data": {}}]')$$);
SELECT try($$SELECT cqrs.append('aaaaaaaa-0000-4000-8000-000000000001', 'StoreTest', 7,
    '[{"type": "Changed", "data": {}}]')$$);
SELECT try($$SELECT cqrs.append('bbbbbbbb-0000-4000-8000-000000000002', 'StoreTest', 0,
    '[{"type": "Changed", "data": {}}]')$$);
-- The same error as the client sees it, outside any exception block.
SELECT cqrs.append(:a, 'StoreTest', 2, '[{"type": "Changed", "data": {}}]');
SELECT n_events(), cqrs.stream_version(:a), cqrs.stream_version(:b);

\echo == the stream type is fixed by the first event: 42809
SELECT try($$SELECT cqrs.append('aaaaaaaa-0000-4000-8000-000000000001', 'OtherType', NULL,
    '[{"type": "Changed", "data": {}}]')$$);
SELECT try($$SELECT cqrs.append('aaaaaaaa-0000-4000-8000-000000000001', 'OtherType', 3,
    '[{"type": "Changed", "data": {}}]')$$);
SELECT n_events();

\echo == idempotent retry: same event ids at the same place
SELECT cqrs.append(:b, 'StoreTest', -1,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"},
      {"type": "Placed", "data": {"n": 2}, "id": "e0000000-0000-4000-8000-000000000002"}]');
-- the retry with the original expected version returns the original version
SELECT cqrs.append(:b, 'StoreTest', -1,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"},
      {"type": "Placed", "data": {"n": 2}, "id": "e0000000-0000-4000-8000-000000000002"}]');
-- ... and so does the retry with any version
SELECT cqrs.append(:b, 'StoreTest', NULL,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"},
      {"type": "Placed", "data": {"n": 2}, "id": "e0000000-0000-4000-8000-000000000002"}]');
SELECT n_events(), cqrs.stream_version(:b);
-- still the original version after the stream has moved on
SELECT cqrs.append(:b, 'StoreTest', 1,
    '[{"type": "Placed", "data": {"n": 3}, "id": "e0000000-0000-4000-8000-000000000003"}]');
SELECT cqrs.append(:b, 'StoreTest', -1,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"},
      {"type": "Placed", "data": {"n": 2}, "id": "e0000000-0000-4000-8000-000000000002"}]');
SELECT cqrs.append(:b, 'StoreTest', NULL,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"},
      {"type": "Placed", "data": {"n": 2}, "id": "e0000000-0000-4000-8000-000000000002"}]');
SELECT cqrs.append(:b, 'StoreTest', 1,
    '[{"type": "Placed", "data": {"n": 3}, "id": "e0000000-0000-4000-8000-000000000003"}]');
SELECT n_events(), cqrs.stream_version(:b);
SELECT version, event_id FROM cqrs.events WHERE stream_id = :b ORDER BY version;

\echo == the same ids elsewhere are not a retry
-- other order at the same place
SELECT try($$SELECT cqrs.append('bbbbbbbb-0000-4000-8000-000000000002', 'StoreTest', -1,
    '[{"type": "Placed", "data": {"n": 2}, "id": "e0000000-0000-4000-8000-000000000002"},
      {"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"}]')$$);
SELECT try($$SELECT cqrs.append('bbbbbbbb-0000-4000-8000-000000000002', 'StoreTest', NULL,
    '[{"type": "Placed", "data": {"n": 2}, "id": "e0000000-0000-4000-8000-000000000002"},
      {"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"}]')$$);
-- an id already stored, appended at the end of the same stream
SELECT try($$SELECT cqrs.append('bbbbbbbb-0000-4000-8000-000000000002', 'StoreTest', 2,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"}]')$$) ~ '^23505' AS unique_violation;
-- an id already stored in another stream (new and existing target stream)
SELECT try($$SELECT cqrs.append('cccccccc-0000-4000-8000-000000000003', 'StoreTest', -1,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"}]')$$) ~ '^23505' AS unique_violation;
SELECT try($$SELECT cqrs.append('cccccccc-0000-4000-8000-000000000003', 'StoreTest', NULL,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"}]')$$) ~ '^23505' AS unique_violation;
SELECT try($$SELECT cqrs.append('aaaaaaaa-0000-4000-8000-000000000001', 'StoreTest', NULL,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-000000000001"}]')$$);
-- new ids with a stale expected version: a conflict, not a retry
SELECT try($$SELECT cqrs.append('bbbbbbbb-0000-4000-8000-000000000002', 'StoreTest', -1,
    '[{"type": "Placed", "data": {"n": 1}, "id": "e0000000-0000-4000-8000-0000000000ff"},
      {"type": "Placed", "data": {"n": 2}, "id": "e0000000-0000-4000-8000-000000000002"}]')$$);
-- without ids a repeated append is a new append (or a conflict)
SELECT try($$SELECT cqrs.append('bbbbbbbb-0000-4000-8000-000000000002', 'StoreTest', 1,
    '[{"type": "Placed", "data": {"n": 3}}]')$$);
SELECT n_events(), cqrs.stream_version(:b), cqrs.stream_version(:c);

\echo == multi-event appends are atomic (short path: < 4 events, bulk path: >= 4)
SELECT cqrs.append(:c, 'StoreTest', -1,
    '[{"type": "T1", "data": {"i": 1}}, {"type": "T2", "data": {"i": 2}},
      {"type": "T3", "data": {"i": 3}}]');
SELECT cqrs.append(:c, 'StoreTest', 2,
    '[{"type": "B1", "data": {"i": 4}, "metadata": {"m": 1}},
      {"type": "B2", "data": {"i": 5}},
      {"type": "B3", "data": {"i": 6}, "metadata": null},
      {"type": "B4", "data": {"i": 7}, "id": "e0000000-0000-4000-8000-0000000000c7"},
      {"type": "B5", "data": {"i": 8}}]');
SELECT version, event_type, data, metadata FROM cqrs.read_stream(:c) ORDER BY version;
SELECT count(DISTINCT event_id) AS distinct_ids,
       bool_and(substr(event_id::text, 15, 1) = '7') AS generated_ids_are_v7
  FROM cqrs.events WHERE stream_id = :c AND event_type <> 'B4';
SELECT event_id FROM cqrs.events WHERE stream_id = :c AND event_type = 'B4';
-- the order of the events within the transaction is kept (append_ordinal)
SELECT count(DISTINCT append_xid) AS transactions,
       array_agg(append_ordinal ORDER BY version) AS ordinals
  FROM cqrs.events WHERE stream_id = :c AND version >= 3;
-- the last event fails (duplicate id): none of the batch is written
SELECT try($$SELECT cqrs.append('cccccccc-0000-4000-8000-000000000003', 'StoreTest', 7,
    '[{"type": "X", "data": {}}, {"type": "X", "data": {}},
      {"type": "X", "data": {}, "id": "e0000000-0000-4000-8000-000000000001"}]')$$) ~ '^23505' AS short_path_fails;
SELECT try($$SELECT cqrs.append('cccccccc-0000-4000-8000-000000000003', 'StoreTest', 7,
    '[{"type": "X", "data": {}}, {"type": "X", "data": {}}, {"type": "X", "data": {}},
      {"type": "X", "data": {}}, {"type": "X", "data": {}, "id": "e0000000-0000-4000-8000-000000000001"}]')$$) ~ '^23505' AS bulk_path_fails;
-- an id twice in one batch
SELECT try($$SELECT cqrs.append('cccccccc-0000-4000-8000-000000000003', 'StoreTest', 7,
    '[{"type": "X", "data": {}, "id": "e0000000-0000-4000-8000-0000000000d1"},
      {"type": "X", "data": {}, "id": "e0000000-0000-4000-8000-0000000000d1"}]')$$) ~ '^23505' AS duplicate_in_batch;
-- a bad event anywhere in the batch: nothing written
SELECT try($$SELECT cqrs.append('cccccccc-0000-4000-8000-000000000003', 'StoreTest', 7,
    '[{"type": "X", "data": {}}, {"type": "X", "data": {}}, {"type": "X", "data": {}},
      {"type": "X", "data": {}}, {"type": "X", "data": []}]')$$);
SELECT n_events(), cqrs.stream_version(:c);
-- inside an explicit transaction too, and the transaction can go on
BEGIN;
SELECT cqrs.append(:c, 'StoreTest', 7, '[{"type": "InTx", "data": {}}]');
SAVEPOINT s;
\set VERBOSITY terse
SELECT cqrs.append(:c, 'StoreTest', 8,
    '[{"type": "X", "data": {}}, {"type": "X", "data": {}}, {"type": "X", "data": {}},
      {"type": "X", "data": {}, "id": "e0000000-0000-4000-8000-000000000001"}]');
ROLLBACK TO SAVEPOINT s;
\set VERBOSITY default
SELECT cqrs.append(:c, 'StoreTest', 8, '[{"type": "InTx", "data": {}}]');
COMMIT;
SELECT n_events(), cqrs.stream_version(:c);

\echo == several appends to one stream in one statement and one transaction
SELECT g, cqrs.append(:d, 'StoreTest', NULL,
                      jsonb_build_array(jsonb_build_object('type', 'S', 'data', jsonb_build_object('g', g))))
  FROM generate_series(1, 3) g ORDER BY g;
SELECT g, cqrs.append(:d, 'StoreTest', g + 1,
                      jsonb_build_array(jsonb_build_object('type', 'S', 'data', jsonb_build_object('g', g))))
  FROM generate_series(1, 3) g ORDER BY g;
BEGIN;
SELECT cqrs.append(:d, 'StoreTest', 5, '[{"type": "S", "data": {}}]');
SELECT cqrs.append(:d, 'StoreTest', 6, '[{"type": "S", "data": {}}, {"type": "S", "data": {}},
    {"type": "S", "data": {}}, {"type": "S", "data": {}}]');
SELECT cqrs.stream_version(:d);
-- recorded_at is the appending transaction's timestamp
SELECT count(*), bool_and(recorded_at = now()) FROM cqrs.events
 WHERE stream_id = :d AND version > 5;
COMMIT;
SELECT version, data FROM cqrs.read_stream(:d) ORDER BY version;
-- a rolled-back append leaves nothing behind; the version is reused
BEGIN;
SELECT cqrs.append(:d, 'StoreTest', 10, '[{"type": "Gone", "data": {}}]');
ROLLBACK;
SELECT cqrs.stream_version(:d);
SELECT cqrs.append(:d, 'StoreTest', 10, '[{"type": "Kept", "data": {}}]');
SELECT version, event_type FROM cqrs.read_stream(:d, 10);

\echo == an empty stream type is refused
SELECT try($$SELECT cqrs.append('dddddddd-0000-4000-8000-0000000000ee', '', NULL,
    '[{"type": "X", "data": {}}]')$$);
SELECT n_events();

\echo == INSERT triggers and CHECK constraints a DBA adds to the log apply to appends
CREATE TABLE appends_seen (stream_id uuid, version bigint, event_type text);
CREATE FUNCTION note_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.appends_seen VALUES (NEW.stream_id, NEW.version, NEW.event_type);
    RETURN NEW;
END $$;
CREATE TRIGGER note_append AFTER INSERT ON cqrs.events
    FOR EACH ROW EXECUTE FUNCTION note_append();
\set t '\'dddddddd-0000-4000-8000-0000000000f1\''
SELECT cqrs.append(:t, 'Audited', -1, '[{"type": "A", "data": {}}]');
SELECT cqrs.append(:t, 'Audited', 0, '[{"type": "B", "data": {}}, {"type": "C", "data": {}},
    {"type": "D", "data": {}}, {"type": "E", "data": {}}]');
SELECT version, event_type FROM appends_seen ORDER BY version;
DROP TRIGGER note_append ON cqrs.events;
SELECT cqrs.append(:t, 'Audited', 4, '[{"type": "F", "data": {}}]');
SELECT count(*) AS seen FROM appends_seen;
ALTER TABLE cqrs.events ADD CONSTRAINT small_events
    CHECK (pg_catalog.pg_column_size(data) < 100);
SELECT try($$SELECT cqrs.append('dddddddd-0000-4000-8000-0000000000f1', 'Audited', 5,
    jsonb_build_array(jsonb_build_object('type', 'Big', 'data',
        jsonb_build_object('text', repeat('x', 200)))))$$);
ALTER TABLE cqrs.events DROP CONSTRAINT small_events;
SELECT cqrs.stream_version(:t);

\echo == a read-only transaction refuses appends (25006), as it refuses an INSERT
BEGIN READ ONLY;
SELECT try($$SELECT cqrs.append('dddddddd-0000-4000-8000-0000000000f2', 'ReadOnly', -1,
    '[{"type": "A", "data": {}}]')$$);
SELECT try($$SELECT cqrs.append('dddddddd-0000-4000-8000-0000000000f1', 'Audited', 5,
    '[{"type": "G", "data": {}}]')$$);
COMMIT;
SELECT cqrs.stream_version('dddddddd-0000-4000-8000-0000000000f2') AS read_only_stream,
       cqrs.stream_version(:t) AS audited;

\i sql/include/drop_database.sql
