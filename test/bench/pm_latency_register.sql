-- pgbench script of test/bench/pm_latency.sh: one RegisterToConference for
-- a random conference of the phase (:off + 1 .. :off + :nconf), 1-3 seats.
\set c random(1, :nconf) + :off
\set q random(1, 3)
SELECT cqrs.send('RegisterToConference', jsonb_build_object(
  'orderId', gen_random_uuid(),
  'conferenceId', ('c0000000-0000-4000-8000-' || lpad(:c::text, 12, '0'))::uuid,
  'seats', jsonb_build_array(jsonb_build_object(
      'seatType', ('a0000000-0000-4000-8000-' || lpad(:c::text, 12, '0'))::uuid,
      'quantity', :q))));
