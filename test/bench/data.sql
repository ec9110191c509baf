-- Streams for the read and load scenarios.
--   ...0001: 1,000 events (read_stream), copied to bench.plain_events once
--            sequenced (see run.sh)
--   ...0010: 10 events, one append, no snapshot (load, short stream)
--   ...1000: 100,000 events in 100 appends of 1,000; snapshot at the last
--            event, tail 0 (load, long stream, best case)
--   ...1049: the same, then one-event appends up to a snapshot boundary,
--            then snapshot_every - 1 more: the longest tail a load can meet
--            (load, long stream, worst case)
SELECT cqrs.append('00000000-0000-4000-8000-000000000001', 'Bench', -1, bench.events(1000));
SELECT cqrs.append('00000000-0000-4000-8000-000000000010', 'Bench', -1, bench.events(10));
DO $$
DECLARE
    n integer := current_setting('cqrs_conf.snapshot_every')::integer;
    v bigint;
BEGIN
    FOR r IN 1..100 LOOP
        PERFORM cqrs.append('00000000-0000-4000-8000-000000001000', 'Bench', NULL, bench.events(1000));
        PERFORM cqrs.append('00000000-0000-4000-8000-000000001049', 'Bench', NULL, bench.events(1000));
    END LOOP;
    v := cqrs.stream_version('00000000-0000-4000-8000-000000001049');
    IF n > 0 THEN
        WHILE (v + 1) % n <> 0 LOOP
            v := cqrs.append('00000000-0000-4000-8000-000000001049', 'Bench', v, jsonb_build_array(bench.event(0)));
        END LOOP;
    END IF;
END
$$;
-- The sequencer takes the snapshots (at the latest version of each stream
-- that crossed a boundary): both long streams get theirs now, before the
-- tail of ...1049 is appended.
SELECT cqrs.drain() AS drained \gset
DO $$
DECLARE
    n integer := current_setting('cqrs_conf.snapshot_every')::integer;
    v bigint := cqrs.stream_version('00000000-0000-4000-8000-000000001049');
BEGIN
    FOR r IN 1..n - 1 LOOP
        v := cqrs.append('00000000-0000-4000-8000-000000001049', 'Bench', v, jsonb_build_array(bench.event(r)));
    END LOOP;
END
$$;
