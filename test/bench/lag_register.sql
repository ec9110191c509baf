-- projection_lag.sh load: one RegisterToConference per transaction for a
-- random conference of the phase (:off + 1 .. :off + :nconf), 1-3 seats, a
-- new order id (as pm_latency_register.sql, with the helpers of
-- commands_setup.sql).
\set c random(1, :nconf) + :off
\set q random(1, 3)
SELECT status AS st FROM cqrs.send('RegisterToConference', jsonb_build_object(
  'orderId', gen_random_uuid(), 'conferenceId', bench.conf(:c::integer),
  'seats', jsonb_build_array(jsonb_build_object('seatType', bench.seat(:c::integer), 'quantity', :q::integer)))) \gset
