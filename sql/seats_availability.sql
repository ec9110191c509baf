-- SeatsAvailability (domain.md section 3.5): Given events / When command /
-- Then events, including the reference's worked reservation examples.
\set QUIET on
\i sql/cmd_helpers.inc
\set QUIET off

-- Stream id: derived from the conference id.
SELECT t_short(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c0'))::text) AS stream_id;

-- A reservation before any seats exist: Get fails.
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 1))));

-- AddSeats creates the aggregate (Find + create); RemoveSeats has no floor.
SELECT t_send('AddSeats', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'seatType', t_uuid('2a1'), 'quantity', 10));
SELECT t_send('AddSeats', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'seatType', t_uuid('2b1'), 'quantity', 5));

-- Worked examples: 10 seats of A, reservation R holds 6, so 4 remain.
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 6))));
-- update R to 8 -> A8, change A-2
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 8))));
-- back to 6, then update to 2 -> A2, change A+4
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 6))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 2))));
-- back to 6, then update to 12 -> A10 (partial grant), change A-4
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 6))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 12))));
-- back to 6, then update to B3 -> details B3, changes B-3 and A+6
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 6))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2b1'), 'quantity', 3))));
-- the same request again changes nothing, but still emits SeatsReserved
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2b1'), 'quantity', 3))));
-- an unknown seat type: rejected, no event
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2e1'), 'quantity', 1))));
-- a seat type listed twice: the last entry wins
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d2'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 5),
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 1))));
SELECT t_short((cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c0')))->'state')::text);

-- Cancel and commit of an unknown reservation: no-ops.
SELECT t_send('CancelSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d9')));
SELECT t_send('CommitSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d9')));
-- Commit: the seats stay consumed; Cancel: they come back.
SELECT t_send('CommitSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d2')));
SELECT t_send('CancelSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1')));
SELECT t_send('CancelSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d1')));
SELECT t_short((cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c0')))->'state')::text);

-- RemoveSeats below zero: availability goes negative; a new reservation
-- gets nothing (empty details, no changes); the wanted seats released by a
-- reservation update are still given back.
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d3'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2b1'), 'quantity', 2))));
SELECT t_send('RemoveSeats', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'seatType', t_uuid('2b1'), 'quantity', 5));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d4'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2b1'), 'quantity', 1))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d3'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2b1'), 'quantity', 3))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c0'),
       'reservationId', t_uuid('2d3'), 'seats', '[]'::jsonb));
SELECT t_short((cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c0')))->'state')::text);

-- Snapshots: every 3 events; the fold from a snapshot equals a full replay.
SET cqrs_conf.snapshot_every = 3;
SELECT t_send('AddSeats', jsonb_build_object('conferenceId', t_uuid('2c1'),
       'seatType', t_uuid('2a1'), 'quantity', 4));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c1'),
       'reservationId', t_uuid('2d5'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 3))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c1'),
       'reservationId', t_uuid('2d6'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 3))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('2c1'),
       'reservationId', t_uuid('2d7'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('2a1'), 'quantity', 3))));
SELECT cqrs.drain() AS drained \gset
RESET cqrs_conf.snapshot_every;
SELECT count(*) AS snapshots FROM cqrs.snapshots
 WHERE stream_id = cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c1'));
SELECT t_short((cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c1')))->'state')::text);

-- A snapshot with many pending reservations (more than the state's first
-- allocation) reads back to the same state as a fold without snapshots.
SET cqrs_conf.snapshot_every = 5;
SELECT t_send('AddSeats', jsonb_build_object('conferenceId', t_uuid('2c2'),
       'seatType', t_uuid('2a2'), 'quantity', 100));
SELECT count(*) FILTER (WHERE (cqrs.send('MakeSeatReservation', jsonb_build_object(
           'conferenceId', t_uuid('2c2'), 'reservationId', gen_random_uuid(),
           'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('2a2'), 'quantity', 2))))).status
           = 'accepted') AS accepted
  FROM generate_series(1, 40);
SELECT cqrs.drain() AS drained \gset
RESET cqrs_conf.snapshot_every;
SET cqrs_conf.state_cache_size = 0;
SELECT count(*) AS snapshots FROM cqrs.snapshots
 WHERE stream_id = cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c2'));
SELECT jsonb_array_length(cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c2')))
                          -> 'state' -> 'pendingReservations') AS pending_from_snapshot,
       cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c2')))
         -> 'state' -> 'remainingSeats' -> 0 -> 'quantity' AS remaining;
SELECT cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c2'))) AS with_snapshots \gset
BEGIN;
DELETE FROM cqrs.snapshots WHERE stream_id = cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c2'));
SELECT cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c2'))) = :'with_snapshots'::jsonb
       AS same_without_snapshots;
ROLLBACK;
RESET cqrs_conf.state_cache_size;

-- Thousands of pending reservations (looked up by reservation id, removed
-- ones leave slots that are compacted later): decisions, the folded state,
-- its order and its snapshots stay exact.  Reservation i (id md5('big' ||
-- i)) takes 1 + i % 2 seats; then i % 3 = 0 is committed, i % 3 = 2
-- cancelled, and i % 3 = 1, i % 7 = 0 updated to 4 seats; 2,000
-- reservations first, then 1,000 more, each batch followed by its removals.
CREATE FUNCTION t_big_reserve(lo int, hi int) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FILTER (WHERE (cqrs.send('MakeSeatReservation', jsonb_build_object(
               'conferenceId', t_uuid('2c3'), 'reservationId', md5('big' || i)::uuid,
               'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('2a3'),
                                                             'quantity', 1 + i % 2))))).status
               = 'accepted')
      FROM generate_series(lo, hi) i $$;
CREATE FUNCTION t_big_settle(lo int, hi int) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FILTER (WHERE jsonb_array_length((cqrs.send(
               CASE i % 3 WHEN 0 THEN 'CommitSeatReservation' WHEN 2 THEN 'CancelSeatReservation'
                          ELSE 'MakeSeatReservation' END,
               jsonb_build_object('conferenceId', t_uuid('2c3'), 'reservationId', md5('big' || i)::uuid,
                   'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('2a3'),
                                                                 'quantity', 4))))).events) = 1)
      FROM generate_series(lo, hi) i WHERE i % 3 <> 1 OR i % 7 = 0 $$;
SET cqrs_conf.snapshot_every = 64;
SELECT t_send('AddSeats', jsonb_build_object('conferenceId', t_uuid('2c3'),
       'seatType', t_uuid('2a3'), 'quantity', 100000));
SELECT t_big_reserve(1, 2000) AS reserved, t_big_settle(1, 2000) AS settled;
SELECT cqrs.drain() AS drained \gset
SELECT t_big_reserve(2001, 3000) AS reserved, t_big_settle(2001, 3000) AS settled;
SELECT cqrs.drain() AS drained \gset
-- settled again: removed reservations are no-ops (no event), updates repeat
SELECT t_big_settle(1, 3000) AS settled_again;
SELECT cqrs.drain() AS drained \gset
RESET cqrs_conf.snapshot_every;
SELECT cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c3'))) -> 'state' AS big \gset
SELECT jsonb_array_length(:'big'::jsonb -> 'pendingReservations') AS pending,
       (SELECT array_agg((p ->> 'reservationId')::uuid ORDER BY n)
          FROM jsonb_array_elements(:'big'::jsonb -> 'pendingReservations') WITH ORDINALITY x(p, n))
       = (SELECT array_agg(md5('big' || i)::uuid ORDER BY i)
            FROM generate_series(1, 3000) i WHERE i % 3 = 1) AS in_reservation_order,
       (SELECT bool_and((p -> 'seats' -> 0 ->> 'quantity')::int
                        = CASE WHEN (p ->> 'i')::int % 7 = 0 THEN 4 ELSE 1 + (p ->> 'i')::int % 2 END)
          FROM (SELECT p || jsonb_build_object('i', i) AS p
                  FROM jsonb_array_elements(:'big'::jsonb -> 'pendingReservations') p
                  JOIN generate_series(1, 3000) i ON md5('big' || i)::uuid = (p ->> 'reservationId')::uuid) s)
       AS seats_right,
       (:'big'::jsonb -> 'remainingSeats' -> 0 ->> 'quantity')::int
       = 100000 - (SELECT sum(CASE WHEN i % 3 = 0 THEN 1 + i % 2
                                   WHEN i % 3 = 1 AND i % 7 = 0 THEN 4
                                   WHEN i % 3 = 1 THEN 1 + i % 2 ELSE 0 END)
                     FROM generate_series(1, 3000) i) AS remaining_right;
-- the same state from the latest snapshot (no cache), and from the events alone
SET cqrs_conf.state_cache_size = 0;
SELECT cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c3'))) -> 'state'
       = :'big'::jsonb AS same_from_snapshot;
BEGIN;
WITH d AS (DELETE FROM cqrs.snapshots
            WHERE stream_id = cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c3'))
           RETURNING 1)
SELECT count(*) > 1 AS had_snapshots FROM d;
SELECT cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('2c3'))) -> 'state'
       = :'big'::jsonb AS same_without_snapshots;
ROLLBACK;
RESET cqrs_conf.state_cache_size;
