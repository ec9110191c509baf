-- Helpers of the conference demo (scripts/demo.sh), in schema demo: the
-- scenario's ids, the registrants' names, a polling wait for the worker's
-- answers, the progress line and the registrants' own journal.  The demo
-- runs on a throwaway cluster; none of this is part of the extension.
-- Every write to the system goes through cqrs.send or plain SQL on the
-- conference management tables, in the demo scripts themselves.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE SCHEMA demo;

-- The conference and its two seat types (filled by 20_conference.sql).
CREATE TABLE demo.scenario (
    conference_id uuid NOT NULL,
    pass_id uuid NOT NULL,          -- "Conference pass", paid
    workshop_id uuid NOT NULL,      -- "Community workshop", free
    registrants integer NOT NULL    -- how many the race brings
);

-- Registrant numbers 1, 2, ... handed out to the pgbench clients.
CREATE SEQUENCE demo.registrant_no;

-- What each registrant saw and did, written by the registrant at the end of
-- its visit (the application's side of the story; 60_verify.sql checks the
-- read models against it).
CREATE TABLE demo.registrants (
    n integer PRIMARY KEY,
    order_id uuid NOT NULL UNIQUE,
    wanted_pass integer NOT NULL,
    wanted_workshop integer NOT NULL,
    reserved_pass integer NOT NULL,
    reserved_workshop integer NOT NULL,
    total numeric(18,2) NOT NULL,
    outcome text NOT NULL CHECK (outcome IN (
        'sold_out',          -- nothing could be reserved: left
        'walked_away',       -- seats reserved, never paid: left
        'payment_declined',  -- the card was declined (payment cancelled): left
        'paid',              -- paid, order confirmed, seats named
        'free')),            -- zero-cost order confirmed, seats named
    seats_named integer NOT NULL DEFAULT 0,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION demo.conference_id() RETURNS uuid
    LANGUAGE sql STABLE AS $$ SELECT conference_id FROM demo.scenario $$;
CREATE FUNCTION demo.pass_id() RETURNS uuid
    LANGUAGE sql STABLE AS $$ SELECT pass_id FROM demo.scenario $$;
CREATE FUNCTION demo.workshop_id() RETURNS uuid
    LANGUAGE sql STABLE AS $$ SELECT workshop_id FROM demo.scenario $$;

-- Readable ids: registrant 42 places order a0000000-0000-4000-8000-000000000042
-- and pays with payment b0000000-0000-4000-8000-000000000042.
CREATE FUNCTION demo.order_id(n bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT ('a0000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;
CREATE FUNCTION demo.payment_id(n bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT ('b0000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;

-- The seat list of RegisterToConference, without zero quantities.
CREATE FUNCTION demo.seats(pass integer, workshop integer) RETURNS jsonb
    LANGUAGE sql STABLE STRICT AS $$
    SELECT jsonb_agg(jsonb_build_object('seatType', t, 'quantity', q))
      FROM (VALUES (demo.pass_id(), pass), (demo.workshop_id(), workshop)) AS v(t, q)
     WHERE q > 0
$$;

-- A person's name and email from a number (deterministic, varied).
CREATE FUNCTION demo.person(k bigint) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT jsonb_build_object('firstName', f, 'lastName', l,
                              'email', lower(f || '.' || l || k) || '@example.com')
      FROM (SELECT (ARRAY['Ada', 'Alan', 'Barbara', 'Brian', 'Charles', 'Donald', 'Edgar',
                          'Frances', 'Grace', 'Hedy', 'Ivan', 'Jean', 'Ken', 'Leslie',
                          'Margaret', 'Niklaus', 'Ole', 'Radia', 'Sophie', 'Tony'])[1 + k % 20] AS f,
                   (ARRAY['Lovelace', 'Turing', 'Liskov', 'Kernighan', 'Babbage', 'Knuth',
                          'Codd', 'Allen', 'Hopper', 'Lamarr', 'Sutherland', 'Sammet',
                          'Thompson', 'Lamport', 'Hamilton', 'Wirth', 'Dahl', 'Perlman',
                          'Wilson', 'Hoare'])[1 + (k / 20) % 20] AS l) AS p
$$;

-- The attendee of seat `pos` of registrant n: the registrant on seat 0,
-- colleagues on the others.
CREATE FUNCTION demo.attendee(n bigint, pos integer) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN pos = 0 THEN demo.person(n) ELSE demo.person(1000 * pos + n) END
$$;

-- Stop the registrant (and pgbench) with the reason when a command is not
-- accepted: in the normal journey every command is.
CREATE FUNCTION demo.accepted(r cqrs.command_result) RETURNS text
    LANGUAGE plpgsql AS $$
BEGIN
    IF r.status IS DISTINCT FROM 'accepted' THEN
        RAISE EXCEPTION 'command % was %: %', r.command_id, r.status, r.reason;
    END IF;
    RETURN r.status;
END
$$;

-- End a demo script with an error (psql then exits non-zero).
CREATE FUNCTION demo.fail(message text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'demo verification: %', message;
END
$$;

-- Wait for an answer of the background worker.  The worker's events commit
-- after the caller's, so cqrs.wait_for_projections() alone is not enough:
-- poll the read model until `condition` (a boolean query) is true, then wait
-- for every projection to have applied everything committed so far, so the
-- other read models are as current as the one polled (read-your-writes).
-- Returns how long it waited.
CREATE FUNCTION demo.wait_until(condition text, what text,
                                timeout interval DEFAULT '2 min')
    RETURNS interval
    LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
    deadline timestamptz := clock_timestamp() + timeout;
    done boolean;
BEGIN
    LOOP
        EXECUTE condition INTO done;
        EXIT WHEN done;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'demo: gave up waiting for %', what
                USING DETAIL = format('Not true after %s: %s', timeout, condition),
                      HINT = 'Look at cqrs.projection_status and the pending or rejected rows of cqrs.commands.';
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    IF NOT cqrs.wait_for_projections(timeout) THEN
        RAISE EXCEPTION 'demo: projections did not catch up while waiting for %', what
            USING HINT = 'SELECT * FROM cqrs.projection_status';
    END IF;
    RETURN clock_timestamp() - started;
END
$$;

-- A registrant waits until the process manager has answered its order
-- (the draft order leaves pending_reservation), then reads what it got.
CREATE FUNCTION demo.await_reservation(order_id uuid,
    OUT reserved_pass integer, OUT reserved_workshop integer, OUT total numeric)
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM demo.wait_until(format(
        'SELECT EXISTS (SELECT 1 FROM conference.draft_orders
                         WHERE order_id = %L AND state <> ''pending_reservation'')', order_id),
        format('the reservation of order %s', order_id));
    SELECT coalesce(sum(i.reserved_seats) FILTER (WHERE i.seat_type = demo.pass_id()), 0),
           coalesce(sum(i.reserved_seats) FILTER (WHERE i.seat_type = demo.workshop_id()), 0)
      INTO reserved_pass, reserved_workshop
      FROM conference.draft_order_items i
     WHERE i.order_id = await_reservation.order_id;
    SELECT p.total INTO total FROM conference.priced_orders p
     WHERE p.order_id = await_reservation.order_id;
    IF total IS NULL THEN
        RAISE EXCEPTION 'demo: order % is reserved but has no priced order', order_id;
    END IF;
END
$$;

-- A registrant waits until its order is confirmed and its seat assignments
-- exist (PaymentCompleted or ConfirmOrder -> OrderConfirmed ->
-- CreateSeatAssignments -> SeatAssignmentsCreated, all by the worker).
CREATE FUNCTION demo.await_seat_assignments(order_id uuid) RETURNS uuid
    LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    PERFORM demo.wait_until(format(
        'SELECT EXISTS (SELECT 1 FROM conference.draft_orders d
                          JOIN conference.seat_assignments_view s USING (order_id)
                         WHERE d.order_id = %L AND d.state = ''confirmed'')', order_id),
        format('the confirmation and seat assignments of order %s', order_id));
    SELECT DISTINCT s.assignments_id INTO STRICT id FROM conference.seat_assignments_view s
     WHERE s.order_id = await_seat_assignments.order_id;
    RETURN id;
END
$$;

-- One line of progress (scripts/demo.sh prints one a second), from the
-- read models: the conference's orders (placed, waiting for the worker's
-- reservation, then by what the reservation gave them: all the seats asked
-- for, some, none), confirmed and expired orders, completed payments, seats
-- named, seats left, the largest projection lag, the reservation round trip
-- through the worker, the commands due.
CREATE FUNCTION demo.progress_format() RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT '%5s %6s %7s %8s %4s %4s | %9s %7s | %4s %5s | %7s %8s | %3s %7s %4s'
$$;

CREATE FUNCTION demo.progress_header() RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT format(demo.progress_format(), 'time', 'placed', 'waiting', 'got: all', 'some', 'none',
                  'confirmed', 'expired', 'paid', 'named', 'passes', 'workshop', 'lag',
                  'resv ms', 'cmds')
$$;

CREATE FUNCTION demo.progress_line(elapsed text) RETURNS text
    LANGUAGE sql STABLE AS $$
    WITH d AS (
        SELECT d.state, i.requested, i.reserved
          FROM conference.draft_orders d,
               LATERAL (SELECT sum(requested_seats) AS requested, sum(reserved_seats) AS reserved
                          FROM conference.draft_order_items
                         WHERE order_id = d.order_id) i
         WHERE d.conference_id = demo.conference_id()),
    o AS (
        SELECT count(*) AS placed,
               count(*) FILTER (WHERE state = 'pending_reservation') AS waiting,
               count(*) FILTER (WHERE state <> 'pending_reservation'
                                  AND reserved = requested) AS got_all,
               count(*) FILTER (WHERE state <> 'pending_reservation'
                                  AND reserved > 0 AND reserved < requested) AS got_some,
               count(*) FILTER (WHERE state <> 'pending_reservation' AND reserved = 0) AS got_none,
               count(*) FILTER (WHERE state = 'confirmed') AS confirmed,
               count(*) FILTER (WHERE state = 'expired') AS expired
          FROM d),
    s AS (
        SELECT max(available_quantity) FILTER (WHERE id = demo.pass_id()) AS pass_left,
               max(quantity) FILTER (WHERE id = demo.pass_id()) AS pass_quota,
               max(available_quantity) FILTER (WHERE id = demo.workshop_id()) AS ws_left,
               max(quantity) FILTER (WHERE id = demo.workshop_id()) AS ws_quota
          FROM conference.seat_type_view WHERE conference_id = demo.conference_id()),
    -- the reservation round trip through the worker, for the orders answered
    -- in the last second: OrderPlaced to OrderReservationCompleted or
    -- OrderPartiallyReserved, from the events' recorded_at (the start times
    -- of their transactions)
    r AS (
        SELECT round(avg(extract(epoch FROM a.recorded_at - p.recorded_at)) * 1000) AS ms
          FROM cqrs.events a
          JOIN cqrs.events p ON p.stream_id = a.stream_id AND p.version = 0
         WHERE a.event_type IN ('OrderReservationCompleted', 'OrderPartiallyReserved')
           AND a.recorded_at > now() - interval '1 s'
           AND p.event_type = 'OrderPlaced')
    SELECT format(demo.progress_format(),
                  elapsed, o.placed, o.waiting, o.got_all, o.got_some, o.got_none,
                  o.confirmed, o.expired,
                  (SELECT count(*) FROM conference.payment_details_view WHERE state = 'completed'),
                  (SELECT count(*) FROM conference.seat_assignments_view a
                     JOIN conference.draft_orders d USING (order_id)
                    WHERE d.conference_id = demo.conference_id() AND a.email IS NOT NULL),
                  s.pass_left || '/' || s.pass_quota, s.ws_left || '/' || s.ws_quota,
                  (SELECT max(lag_events) FROM cqrs.projection_status WHERE rebuild_of IS NULL),
                  coalesce(r.ms::text, '-'),
                  (SELECT count(*) FROM cqrs.commands
                    WHERE status = 'pending' AND (due_at IS NULL OR due_at <= now())))
      FROM o, s, r
$$;

-- True when the worker has nothing left to do now: every committed event
-- sequenced and applied by every projection, no command due.
CREATE FUNCTION demo.worker_idle() RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM cqrs.sequencer_status WHERE unsequenced_events > 0)
       AND NOT EXISTS (SELECT 1 FROM cqrs.projection_status
                        WHERE rebuild_of IS NULL AND lag_events > 0)
       AND NOT EXISTS (SELECT 1 FROM cqrs.commands
                        WHERE status = 'pending' AND (due_at IS NULL OR due_at <= now()))
$$;
