-- The conference system end to end: the business customer publishes a
-- conference, registrants order seats (one only partly served), one pays,
-- one takes free workshop seats, one abandons and expires; the read models
-- the UI and the analysts query follow, and every projection is checked
-- against a fresh rebuild from the log.
\pset footer off
\set QUIET on

-- 1. The business customer creates and publishes a conference (plain SQL).
INSERT INTO conference.conferences
       (name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('CQRS Summit', 'Two days of event sourcing', 'Redmond', '2030-05-01', '2030-05-02',
        'Ann Owner', 'ann@contoso.com', 'cqrs_summit')
RETURNING id AS conf \gset
INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'conf', 'General', 'General admission', 5, 120.00),
       (:'conf', 'Workshop', 'Free workshop', 10, 0);
SELECT id AS general FROM conference.seat_types WHERE conference_id = :'conf' AND name = 'General' \gset
SELECT id AS workshop FROM conference.seat_types WHERE conference_id = :'conf' AND name = 'Workshop' \gset
SELECT conference.publish(:'conf');
\echo '== published: the worker turns SeatCreated into AddSeats; availability:'
SELECT cqrs.drain() >= 0 AS drained;
SELECT name, quantity, available_quantity FROM conference.seat_type_view
 WHERE conference_id = :'conf' ORDER BY name;

-- 2. Registrants race for 5 General seats: 2 + 2 + 3 (the last one gets 1).
\set alice '''a1111111-0000-4000-8000-000000000001'''
\set bob   '''b2222222-0000-4000-8000-000000000002'''
\set carol '''c3333333-0000-4000-8000-000000000003'''
\set dave  '''d4444444-0000-4000-8000-000000000004'''
SELECT status FROM cqrs.send('RegisterToConference', jsonb_build_object('orderId', :alice,
       'conferenceId', :'conf', 'seats', jsonb_build_array(jsonb_build_object('seatType', :'general', 'quantity', 2))));
SELECT status FROM cqrs.send('RegisterToConference', jsonb_build_object('orderId', :bob,
       'conferenceId', :'conf', 'seats', jsonb_build_array(jsonb_build_object('seatType', :'general', 'quantity', 2))));
SELECT status FROM cqrs.send('RegisterToConference', jsonb_build_object('orderId', :carol,
       'conferenceId', :'conf', 'seats', jsonb_build_array(jsonb_build_object('seatType', :'general', 'quantity', 3))));
SELECT status FROM cqrs.send('RegisterToConference', jsonb_build_object('orderId', :dave,
       'conferenceId', :'conf', 'seats', jsonb_build_array(jsonb_build_object('seatType', :'workshop', 'quantity', 2))));
\echo '== the process manager reserves seats (MakeSeatReservation -> SeatsReserved -> MarkSeatsAsReserved):'
SELECT cqrs.drain() >= 0 AS drained;
SELECT left(d.order_id::text, 8) AS order_, d.state, i.requested_seats, i.reserved_seats
  FROM conference.draft_orders d JOIN conference.draft_order_items i USING (order_id)
 ORDER BY d.order_id;

-- 3. Alice pays; Dave's order is free and confirmed directly; Bob abandons.
SELECT status FROM cqrs.send('AssignRegistrantDetails', jsonb_build_object('orderId', :alice,
       'firstName', 'Alice', 'lastName', 'Liddell', 'email', 'alice@example.com'));
SELECT total AS alice_total, is_free_of_charge FROM conference.priced_orders WHERE order_id = :alice;
SELECT status FROM cqrs.send('InitiateThirdPartyProcessorPayment', jsonb_build_object(
       'paymentId', 'e5555555-0000-4000-8000-000000000005', 'paymentSourceId', :alice,
       'conferenceId', :'conf', 'description', 'Registration for CQRS Summit', 'totalAmount', 240));
SELECT status FROM cqrs.send('CompleteThirdPartyProcessorPayment',
       '{"paymentId": "e5555555-0000-4000-8000-000000000005"}');
SELECT status FROM cqrs.send('AssignRegistrantDetails', jsonb_build_object('orderId', :dave,
       'firstName', 'Dave', 'lastName', 'Bowman', 'email', 'dave@example.com'));
SELECT status FROM cqrs.send('ConfirmOrder', jsonb_build_object('orderId', :dave));
SELECT cqrs.drain() >= 0 AS drained;

-- 4. Half an hour later: the reservation timers fire (drain's as_of moves the
--    clock forward), unpaid orders expire and their seats come back.
\echo '== 30 minutes later:'
SELECT cqrs.drain(now() + interval '30 minutes') >= 0 AS drained;
SELECT left(order_id::text, 8) AS order_, state FROM conference.draft_orders ORDER BY order_id;
SELECT name, quantity, available_quantity FROM conference.seat_type_view
 WHERE conference_id = :'conf' ORDER BY name;

-- 5. What the business customer and the analysts see.
\echo '== orders and attendees (business customer):'
SELECT access_code IS NOT NULL AS has_code, registrant_name, registrant_email, total_amount, status
  FROM conference.management_orders WHERE conference_id = :'conf' ORDER BY registrant_name;
\echo '== sales summary (analysts):'
SELECT * FROM conference.sales_summary WHERE conference_id = :'conf';
SELECT left(payment_id::text, 8) AS payment, state, total_amount FROM conference.payment_details_view;

-- 6. Health: every projection is current and equals a rebuild from the log.
\echo '== projections:'
SELECT name, position, lag_events, state FROM cqrs.projection_status ORDER BY name;
SELECT p.name, count(v.*) AS differences_from_rebuild
  FROM cqrs.projections p LEFT JOIN LATERAL cqrs.verify_projection(p.name) v ON true
 WHERE p.rebuild_of IS NULL AND p.tables IS NOT NULL AND cardinality(p.tables) > 0
 GROUP BY p.name ORDER BY p.name;
SELECT count(*) AS events, max(global_position) AS last_position FROM cqrs.events;
