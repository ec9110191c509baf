-- The registration process manager and the event -> command handlers,
-- driven through cqrs.send and cqrs.drain(as_of) (domain.md sections 3.7,
-- 3.8; design.md section 6): seat types announced to SeatsAvailability,
-- the happy path, a partial reservation, a stale SeatsReserved, expiry at
-- window + 14 minutes, payment after expiry (seats again / needs
-- attention), re-delivered events.
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS cqrs_pm_flow;
CREATE DATABASE cqrs_pm_flow;
\c cqrs_pm_flow
CREATE EXTENSION cqrs_conf;
RESET client_min_messages;
\set QUIET on
\i sql/cmd_helpers.inc
\set QUIET off

-- An order's (or any stream's) events, one line each, without the times
-- and the random access code.
CREATE FUNCTION t_events(sid uuid) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT t_short(version || ' ' || event_type || ' '
         || (data - 'reservationAutoExpiration' - 'reservationExpiration' - 'accessCode'
                  - 'lines' - 'total' - 'isFreeOfCharge')::text)
    FROM cqrs.read_stream(sid) ORDER BY version
$$;
CREATE FUNCTION t_pm(order_id uuid) RETURNS text LANGUAGE sql AS $$
  SELECT t_short(format('%s completed=%s%s', p.state, p.completed,
                        coalesce(' warning: ' || p.last_warning, '')))
    FROM conference.registration_processes p WHERE p.order_id = t_pm.order_id
$$;
CREATE FUNCTION t_remaining() RETURNS text LANGUAGE sql AS $$
  SELECT t_short((cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('c1')))
                  ->'state'->'remainingSeats')::text)
$$;
CREATE FUNCTION t_register(o text, seat text, q int) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid(o),
         'conferenceId', t_uuid('c1'), 'seats', jsonb_build_array(
             jsonb_build_object('seatType', t_uuid(seat), 'quantity', q))))
$$;
CREATE FUNCTION t_pay(o text) RETURNS void LANGUAGE sql AS $$
  SELECT cqrs.send('InitiateThirdPartyProcessorPayment', jsonb_build_object(
         'paymentId', t_uuid('e' || o), 'paymentSourceId', t_uuid(o), 'totalAmount', 1));
  SELECT cqrs.send('CompleteThirdPartyProcessorPayment',
                   jsonb_build_object('paymentId', t_uuid('e' || o)));
$$;
-- drain and report nothing but whether there was work (counts depend on
-- every projection installed)
CREATE FUNCTION t_drain(as_of timestamptz DEFAULT now()) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN cqrs.drain(as_of) > 0 THEN 'drained' ELSE 'nothing to do' END
$$;

-- The three handlers are registered at install time.
SELECT name, event_types, state FROM cqrs.projections
 WHERE name IN ('registration_process_manager', 'seat_availability_commands',
                'seat_assignments_creator') ORDER BY name;

-- 1. SeatCreated -> AddSeats: publishing announces the seat types.
INSERT INTO conference.conferences (id, name, description, location, start_date,
       end_date, owner_name, owner_email, slug)
VALUES (t_uuid('c1'), 'PM Conf', 'd', 'l', '2030-01-01', '2030-01-02', 'o',
        'o@contoso.com', 'pm_conf');
INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
VALUES (t_uuid('a1'), t_uuid('c1'), 'General', 'g', 10, 100),
       (t_uuid('b1'), t_uuid('c1'), 'Workshop', 'w', 5, 50);
SELECT conference.publish(t_uuid('c1'));
SELECT t_drain();
SELECT t_remaining();
-- SeatUpdated: +2 -> AddSeats(2); -3 -> RemoveSeats(3); name only -> nothing
UPDATE conference.seat_types SET quantity = 12 WHERE id = t_uuid('a1');
SELECT t_drain();
UPDATE conference.seat_types SET quantity = 9 WHERE id = t_uuid('a1');
SELECT t_drain();
UPDATE conference.seat_types SET name = 'General admission' WHERE id = t_uuid('a1');
SELECT t_drain();
SELECT t_remaining();
SELECT t_short(command_type || ' ' || (payload - 'conferenceId')::text) AS sent
  FROM cqrs.commands WHERE command_type IN ('AddSeats', 'RemoveSeats') ORDER BY seq;
-- re-delivering the seat events sends nothing new
SELECT count(*) FROM (
  SELECT conference.seat_availability_commands_handle(e)
    FROM cqrs.read_all() e WHERE e.event_type IN ('SeatCreated', 'SeatUpdated')) x;
SELECT count(*) AS seat_commands FROM cqrs.commands
 WHERE command_type IN ('AddSeats', 'RemoveSeats');
SELECT t_remaining();

-- 2. The happy path: register; the worker's round trip reserves the seats.
SELECT t_register('d1', 'a1', 3);
SELECT t_pm(t_uuid('d1'));            -- not started before a drain
SELECT t_drain();
SELECT t_pm(t_uuid('d1'));
SELECT t_events(t_uuid('d1'));
SELECT t_remaining();
-- the expiry is scheduled at the reservation's expiry + 14 minutes
SELECT c.due_at - (cqrs.load(t_uuid('d1'))->'state'->>'reservationExpiration')::timestamptz AS buffer,
       c.due_at - c.received_at > interval '28 minutes' AS about_29_min
  FROM cqrs.commands c
 WHERE c.command_type = 'ExpireRegistrationProcess'
   AND c.payload->>'processId' = cqrs.derived_stream_id('RegistrationProcess', t_uuid('d1'))::text;
-- payment -> ConfirmOrder -> OrderConfirmed -> CommitSeatReservation + seat assignments
SELECT t_pay('d1');
SELECT t_drain();
SELECT t_pm(t_uuid('d1'));
SELECT t_events(t_uuid('d1'));
SELECT t_events(cqrs.derived_stream_id('SeatAssignments', t_uuid('d1')));
SELECT t_short(event_type || ' ' || (data->>'reservationId'))
  FROM cqrs.read_stream(cqrs.derived_stream_id('SeatsAvailability', t_uuid('c1')))
 WHERE event_type = 'SeatsReservationCommitted';
-- the commands the process sent, in order, with their outcomes
SELECT command_type, status FROM cqrs.commands
 WHERE payload->>'orderId' = t_uuid('d1')::text OR payload->>'reservationId' = t_uuid('d1')::text
    OR payload->>'processId' = cqrs.derived_stream_id('RegistrationProcess', t_uuid('d1'))::text
 ORDER BY seq;
-- the expiry fires later and is ignored (the process is complete)
SELECT t_drain(now() + interval '30 minutes');
SELECT t_events(t_uuid('d1'));
SELECT status, reason FROM cqrs.commands WHERE command_type = 'ExpireRegistrationProcess'
   AND payload->>'processId' = cqrs.derived_stream_id('RegistrationProcess', t_uuid('d1'))::text;

-- 3. Re-delivered events never start a second process or send twice.
SELECT count(*) AS commands_before FROM cqrs.commands \gset
SELECT count(*) FROM (
  SELECT conference.registration_process_handle(e) FROM cqrs.read_all() e
   WHERE e.event_type IN ('OrderPlaced', 'SeatsReserved', 'PaymentCompleted', 'OrderConfirmed')) x;
SELECT count(*) = :commands_before AS no_new_commands FROM cqrs.commands;
SELECT count(*) AS processes FROM conference.registration_processes;
SELECT t_pm(t_uuid('d1'));
SELECT count(*) AS assignments FROM cqrs.events WHERE event_type = 'SeatAssignmentsCreated';

-- 4. Partial reservation: 7 Workshop seats wanted, 5 exist.
SELECT t_register('d2', 'b1', 7);
SELECT t_drain();
SELECT t_pm(t_uuid('d2'));
SELECT t_events(t_uuid('d2'));

-- 5. An update before the first reply: the first SeatsReserved is stale
-- (its correlation id is not the last MakeSeatReservation's) and ignored.
SELECT t_register('d3', 'a1', 1);
SELECT t_register('d3', 'a1', 2);
SELECT t_drain();
SELECT t_pm(t_uuid('d3'));
SELECT t_events(t_uuid('d3'));
SELECT count(*) AS seats_reserved_replies FROM cqrs.events
 WHERE event_type = 'SeatsReserved' AND data->>'reservationId' = t_uuid('d3')::text;
SELECT t_remaining();

-- 6. Expiry: nothing at 28 minutes, RejectOrder + CancelSeatReservation at 30.
SELECT t_register('d4', 'a1', 2);
SELECT t_drain();
SELECT t_remaining();
SELECT t_drain(now() + interval '28 minutes');
SELECT t_pm(t_uuid('d4'));
SELECT t_drain(now() + interval '30 minutes');
SELECT t_pm(t_uuid('d4'));
SELECT t_events(t_uuid('d4'));
SELECT t_remaining();
-- a late ConfirmOrder is refused
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('d4')));

-- 7. Payment after expiry, the seats are still there: reserved again and
-- the order is confirmed after all.
SELECT t_pay('d4');
SELECT t_drain();
SELECT t_pm(t_uuid('d4'));
SELECT t_events(t_uuid('d4'));
SELECT t_remaining();
SELECT count(*) AS assignments FROM cqrs.read_stream(cqrs.derived_stream_id('SeatAssignments', t_uuid('d4')));
-- the read models show it confirmed, paid and priced again: its priced
-- order (gone at expiry) is back, and the revenue counts it
SELECT d.state, m.status, p.total = m.total_amount AS priced_total,
       p.reservation_expiration IS NULL AS completed, p.assignments_id IS NOT NULL AS assignments,
       (SELECT count(*) FROM conference.priced_order_lines l WHERE l.order_id = d.order_id) AS lines
  FROM conference.draft_orders d
  LEFT JOIN conference.priced_orders p ON p.order_id = d.order_id
  LEFT JOIN conference.management_orders m ON m.order_id = d.order_id
 WHERE d.order_id = t_uuid('d4');
SELECT s.sold, s.revenue,
       (SELECT sum(l.line_total) FROM conference.priced_order_lines l
         WHERE l.order_id = t_uuid('d4') AND l.seat_type = s.seat_type_id) AS d4_revenue
  FROM conference.sales_summary s WHERE s.seat_type_id = t_uuid('a1');

-- 8. Payment after expiry, the seats are gone: the order needs attention,
-- and the partial re-reservation is given back.
SELECT t_register('d5', 'b1', 2);
SELECT t_drain();
SELECT t_send('CancelSeatReservation', jsonb_build_object('conferenceId', t_uuid('c1'),
       'reservationId', t_uuid('d2')));
SELECT t_drain(now() + interval '30 minutes');
SELECT t_pm(t_uuid('d5'));
SELECT t_register('d6', 'b1', 4);     -- someone else takes 4 of the 5
SELECT t_drain();
SELECT t_remaining();
SELECT t_pay('d5');
SELECT t_drain();
SELECT t_pm(t_uuid('d5'));
SELECT t_events(t_uuid('d5'));
SELECT t_remaining();
SELECT t_short(event_type || ' ' || (data->>'reservationId'))
  FROM cqrs.read_stream(cqrs.derived_stream_id('SeatsAvailability', t_uuid('c1')))
 WHERE data->>'reservationId' = t_uuid('d5')::text ORDER BY version;
-- a second payment for it changes nothing
SELECT (cqrs.send('InitiateThirdPartyProcessorPayment', jsonb_build_object(
       'paymentId', t_uuid('f5'), 'paymentSourceId', t_uuid('d5'), 'totalAmount', 1))).status;
SELECT (cqrs.send('CompleteThirdPartyProcessorPayment',
                  jsonb_build_object('paymentId', t_uuid('f5')))).status;
SELECT t_drain();
SELECT t_pm(t_uuid('d5'));

-- 9. An order placed already expired is rejected at once.
SET cqrs_conf.reservation_window = '1ms';
SELECT t_register('d7', 'a1', 1);
SELECT pg_sleep(0.01);
RESET cqrs_conf.reservation_window;
SELECT t_drain();
SELECT t_pm(t_uuid('d7'));
SELECT t_events(t_uuid('d7'));

-- 10. A zero-cost order confirmed by the UI: the process commits the seats.
INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
VALUES (t_uuid('f1'), t_uuid('c1'), 'Volunteer', 'v', 3, 0);
SELECT t_drain();
SELECT t_register('d8', 'f1', 2);
SELECT t_drain();
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('d8')));
SELECT t_drain();
SELECT t_pm(t_uuid('d8'));
SELECT t_remaining();

-- 11. ExpireRegistrationProcess with another command id than the
-- process's expiration command is ignored (d2 expired in 8); a malformed
-- payload is an error.
SELECT t_send('ExpireRegistrationProcess',
              jsonb_build_object('processId', cqrs.derived_stream_id('RegistrationProcess', t_uuid('d2'))));
SELECT t_pm(t_uuid('d2'));
SELECT t_error('ExpireRegistrationProcess', '{"processId": 3}');
SELECT t_error('ExpireRegistrationProcess', '{}');

-- Nothing failed on the way.
SELECT name, state, last_error FROM cqrs.projection_status
 WHERE name IN ('registration_process_manager', 'seat_availability_commands',
                'seat_assignments_creator') ORDER BY name;
SELECT command_type, count(*) FROM cqrs.commands
 WHERE status = 'rejected' GROUP BY 1 ORDER BY 1;

\c :orig_db
SET client_min_messages = warning;
DROP DATABASE cqrs_pm_flow;
