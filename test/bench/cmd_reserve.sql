-- commands.sh, 1b (i): one MakeSeatReservation per transaction on one
-- conference's SeatsAvailability aggregate (-D cid, -D sid), 2 seats, a new
-- reservation id each time (derived from the run, the client and a counter
-- :n kept across the client's transactions; -D n=0).  Nothing commits or
-- cancels them: the pending set grows for the whole run.
\set n :n + 1
SELECT status AS st FROM cqrs.send('MakeSeatReservation', jsonb_build_object(
  'conferenceId', :cid::uuid,
  'reservationId', md5('r-' || :run::text || '-' || :client_id::text || '-' || :n::text)::uuid,
  'seats', jsonb_build_array(jsonb_build_object('seatType', :sid::uuid, 'quantity', 2)))) \gset
