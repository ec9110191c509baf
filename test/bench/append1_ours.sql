-- One event, exact expected version, through cqrs.append (event type
-- BenchHappened, which no installed projection handles: see setup.sql).
-- Each client appends to a stream of its own; the first transaction of a
-- client (:v = -1, set with -D v=-1) derives the client's stream id from
-- the run number and the client id, then every transaction passes the
-- version the previous call returned (\gset keeps it for the next
-- transaction of the same client).
\if :v = -1
SELECT md5('a1-' || :run::text || '-' || :client_id::text)::uuid AS sid \gset
\endif
SELECT cqrs.append(:sid, 'Bench', :v, '[{"type": "BenchHappened", "data": {"reservationId": "7d0a4b9e-3f7c-4c1e-9a55-2f0e6c1d8b21", "seats": [{"seatType": "b7d9b1a4-2c4e-4f3a-8a51-0c6e3d2f9a10", "quantity": 2}], "note": "benchmark payload of about two hundred bytes"}}]') AS v \gset
