-- The event store: append with optimistic concurrency, read back, global
-- order filled in by the background worker, aggregate load with snapshots.
\pset footer off
SET cqrs_conf.snapshot_every = 10;

-- A new stream: expected version -1 means "must not exist yet".
SELECT cqrs.append('00000000-0000-4000-8000-000000000001', 'Counter', -1,
       '[{"type": "Created", "data": {"name": "visits", "count": 0}}]') AS version;

-- Two more events at the version we know (0).
SELECT cqrs.append('00000000-0000-4000-8000-000000000001', 'Counter', 0,
       '[{"type": "Incremented", "data": {"count": 1}},
         {"type": "Incremented", "data": {"count": 2}}]') AS version;

-- A writer that read an old version is refused (SQLSTATE 40001) and nothing is written.
DO $$
BEGIN
  PERFORM cqrs.append('00000000-0000-4000-8000-000000000001', 'Counter', 0,
          '[{"type": "Incremented", "data": {"count": 99}}]');
EXCEPTION WHEN serialization_failure THEN
  RAISE NOTICE 'refused: % (SQLSTATE %)', SQLERRM, SQLSTATE;
END $$;

-- Retrying an append with the same event ids returns the original version.
SELECT cqrs.append('00000000-0000-4000-8000-000000000002', 'Counter', -1,
       '[{"type": "Created", "id": "6f1c1f0e-0000-4000-8000-00000000000a", "data": {"count": 0}}]') AS first_try,
       cqrs.append('00000000-0000-4000-8000-000000000002', 'Counter', -1,
       '[{"type": "Created", "id": "6f1c1f0e-0000-4000-8000-00000000000a", "data": {"count": 0}}]') AS retry;

-- Many increments in one call; a snapshot is taken every 10 events.
SELECT cqrs.append('00000000-0000-4000-8000-000000000001', 'Counter', 2,
       (SELECT jsonb_agg(jsonb_build_object('type', 'Incremented',
                                            'data', jsonb_build_object('count', 2 + i)))
          FROM generate_series(1, 25) AS i)) AS version;

SELECT version, event_type, data FROM cqrs.read_stream('00000000-0000-4000-8000-000000000001', 0, 5);

-- The aggregate's state, folded in C from the latest snapshot and the tail.
SELECT jsonb_pretty(cqrs.load('00000000-0000-4000-8000-000000000001'));
SELECT version AS snapshot_versions FROM cqrs.snapshots
 WHERE stream_id = '00000000-0000-4000-8000-000000000001' ORDER BY version;

-- The worker gives committed events their global positions within milliseconds.
SELECT pg_sleep(0.2);
SELECT * FROM cqrs.sequencer_status;
SELECT global_position, version, event_type FROM cqrs.read_all(0, 5);

-- The log is append-only, for everyone.
DO $$
BEGIN
  DELETE FROM cqrs.events;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'refused: %', SQLERRM;
END $$;
