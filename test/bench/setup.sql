-- Benchmark schema: the extension, and the "plain" reference table.
--
-- bench.plain_events has the shape of cqrs.events: the same columns,
-- defaults and CHECK, primary key (stream_id, version), unique event_id,
-- the partial unique index of positions (where global_position > 0) and
-- the append-order index (append_xid, append_ordinal) -- LIKE ...
-- INCLUDING ALL copies all of them -- but no triggers and nothing that
-- sequences it.
CREATE EXTENSION cqrs_conf;
CREATE SCHEMA bench;
CREATE TABLE bench.plain_events (LIKE cqrs.events INCLUDING ALL);

-- The event data every scenario uses (about 200 bytes as jsonb), with the
-- event's index in its batch.  The event type is one no projection of the
-- installed conference domain subscribes to: the worker still sequences the
-- events and moves every projection's checkpoint over them, as it would for
-- an application's own events, but calls no handler.
CREATE FUNCTION bench.event(i integer) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('type', 'BenchHappened', 'data',
        '{"reservationId": "7d0a4b9e-3f7c-4c1e-9a55-2f0e6c1d8b21", "seats": [{"seatType": "b7d9b1a4-2c4e-4f3a-8a51-0c6e3d2f9a10", "quantity": 2}], "note": "benchmark payload of about two hundred bytes"}'::jsonb
        || jsonb_build_object('i', i))
$$;

CREATE FUNCTION bench.events(n integer) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_agg(bench.event(g) ORDER BY g) FROM generate_series(1, n) g
$$;
