-- commands.sh, 1a (plain): the physical limit for cmd_register.sql -- one
-- single-row INSERT of an OrderPlaced-like event (a new stream, version 0)
-- into bench.plain_events, a table of the shape of cqrs.events (setup as in
-- setup.sql: same columns, defaults, CHECK and indexes, no trigger).
\set q random(1, 3)
INSERT INTO bench.plain_events (stream_id, stream_type, version, event_type, data, metadata, event_id, append_xid, append_ordinal)
VALUES (gen_random_uuid(), 'Order', 0, 'OrderPlaced', jsonb_build_object('conferenceId', :cid::uuid,
  'seats', jsonb_build_array(jsonb_build_object('seatType', :sid::uuid, 'quantity', :q::integer)),
  'reservationAutoExpiration', now() + interval '15 minutes', 'accessCode', 'ABC123'),
  '{}', gen_random_uuid(), pg_current_xact_id(), 0);
