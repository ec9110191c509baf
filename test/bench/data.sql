-- Streams for the read and load scenarios.
--   ...0001: 1,000 events (read_stream), copied to bench.plain_events once
--            sequenced (see run.sh)
--   ...0010: 10 events, one append, no snapshot (load, short stream)
--   ...1000: 100,000 events in 100 appends of 1,000; snapshot at the last
--            event, tail 0 (load, long stream, best case)
--   ...1049: the same plus 49 one-event appends: tail 49 = snapshot_every - 1
--            with the default 50 (load, long stream, worst case)
SELECT cqrs.append('00000000-0000-4000-8000-000000000001', 'Bench', -1, bench.events(1000));
SELECT cqrs.append('00000000-0000-4000-8000-000000000010', 'Bench', -1, bench.events(10));
DO $$
BEGIN
    FOR r IN 1..100 LOOP
        PERFORM cqrs.append('00000000-0000-4000-8000-000000001000', 'Bench', NULL, bench.events(1000));
        PERFORM cqrs.append('00000000-0000-4000-8000-000000001049', 'Bench', NULL, bench.events(1000));
    END LOOP;
    FOR r IN 1..49 LOOP
        PERFORM cqrs.append('00000000-0000-4000-8000-000000001049', 'Bench', NULL, jsonb_build_array(bench.event(r)));
    END LOOP;
END
$$;
