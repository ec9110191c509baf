-- The physical limit for append1_ours.sql: INSERT of the same row into a
-- table of the same shape and indexes, without lock, version lookup or
-- function call.  The version is tracked client-side (\set), which costs
-- the server nothing.
\if :v = -1
SELECT md5('p1-' || :run::text || '-' || :client_id::text)::uuid AS sid \gset
\endif
\set nv :v + 1
INSERT INTO bench.plain_events (stream_id, stream_type, version, event_type, data, metadata, event_id, append_xid, append_ordinal) VALUES (:sid, 'Bench', :nv, 'BenchHappened', '{"reservationId": "7d0a4b9e-3f7c-4c1e-9a55-2f0e6c1d8b21", "seats": [{"seatType": "b7d9b1a4-2c4e-4f3a-8a51-0c6e3d2f9a10", "quantity": 2}], "note": "benchmark payload of about two hundred bytes"}', '{}', gen_random_uuid(), pg_current_xact_id(), 0);
\set v :nv
