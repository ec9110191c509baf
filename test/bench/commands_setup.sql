-- Schema for commands.sh and projection_lag.sh: the extension, the plain
-- reference table (the shape of cqrs.events, as in setup.sql), and
-- :nconf published conferences, each with one seat type.
--
-- Conference i has id c0000000-0000-4000-8000-<i, 12 digits>, its seat
-- type a0000000-0000-4000-8000-<i, 12 digits> (100,000 seats, the most the
-- Conference Management tables accept, price 10).  Creating the seat type
-- publishes SeatCreated, from which the seat_type_view projection sends
-- AddSeats(100,000) through the worker, as in production; on top of that
-- every conference gets AddSeats(10,000,000) here, so no reservation of a
-- benchmark ever runs short of seats.
CREATE EXTENSION cqrs_conf;
CREATE SCHEMA bench;
CREATE TABLE bench.plain_events (LIKE cqrs.events INCLUDING ALL);

CREATE FUNCTION bench.conf(i integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT ('c0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid $$;
CREATE FUNCTION bench.seat(i integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT ('a0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid $$;

INSERT INTO conference.conferences (id, name, description, location, start_date, end_date,
       owner_name, owner_email, slug)
SELECT bench.conf(i), 'Bench ' || i, 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'bench_' || i
  FROM generate_series(1, :nconf) i;
INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
SELECT bench.seat(i), bench.conf(i), 'General', 'g', 100000, 10
  FROM generate_series(1, :nconf) i;
SELECT count(conference.publish(id)) FROM conference.conferences \g /dev/null
SELECT count(*) FROM generate_series(1, :nconf) i,
       cqrs.send('AddSeats', jsonb_build_object('conferenceId', bench.conf(i),
                 'seatType', bench.seat(i), 'quantity', 10000000)) r
 WHERE r.status = 'accepted' \g /dev/null

-- Pending reservations of conference i's SeatsAvailability aggregate.
CREATE FUNCTION bench.pending(i integer) RETURNS integer LANGUAGE sql AS $$
    SELECT jsonb_array_length(cqrs.load(cqrs.derived_stream_id('SeatsAvailability', bench.conf(i)))
                              -> 'state' -> 'pendingReservations') $$;
