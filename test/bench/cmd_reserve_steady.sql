-- commands.sh, 1b (ii): steady state.  Each transaction makes a new
-- reservation (as cmd_reserve.sql) and, in the same transaction, commits
-- (even counter) or cancels (odd) the reservation this client made :lag
-- transactions earlier, so at most clients x :lag reservations are pending.
-- pgbench's tps counts the reservations.
\set n :n + 1
\set old :n - :lag
BEGIN;
SELECT status AS st FROM cqrs.send('MakeSeatReservation', jsonb_build_object(
  'conferenceId', :cid::uuid,
  'reservationId', md5('r-' || :run::text || '-' || :client_id::text || '-' || :n::text)::uuid,
  'seats', jsonb_build_array(jsonb_build_object('seatType', :sid::uuid, 'quantity', 2)))) \gset
\if :old > 0
\if :old % 2 = 0
SELECT status AS st2 FROM cqrs.send('CommitSeatReservation', jsonb_build_object(
  'conferenceId', :cid::uuid,
  'reservationId', md5('r-' || :run::text || '-' || :client_id::text || '-' || :old::text)::uuid)) \gset
\else
SELECT status AS st2 FROM cqrs.send('CancelSeatReservation', jsonb_build_object(
  'conferenceId', :cid::uuid,
  'reservationId', md5('r-' || :run::text || '-' || :client_id::text || '-' || :old::text)::uuid)) \gset
\endif
\endif
COMMIT;
