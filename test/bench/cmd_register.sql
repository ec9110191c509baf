-- commands.sh, 1a (ours): one RegisterToConference per transaction, a new
-- order id and a new command id each time, for the run's conference
-- (-D cid=..., -D sid=...: conference and seat type ids), 1-3 seats.
\set q random(1, 3)
SELECT status AS st FROM cqrs.send('RegisterToConference', jsonb_build_object(
  'orderId', gen_random_uuid(), 'conferenceId', :cid::uuid,
  'seats', jsonb_build_array(jsonb_build_object('seatType', :sid::uuid, 'quantity', :q::integer))),
  gen_random_uuid()) \gset
