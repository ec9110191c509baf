-- Read models of orders: draft_orders/draft_order_items, priced_orders/
-- priced_order_lines, seat_assignments_view, management_orders/
-- management_order_seats, payment_details_view, and the analyst views.
-- Given Order / SeatAssignments / payment events appended in the shapes the
-- domain writes, When cqrs.drain(), Then the rows; re-delivery of every
-- event changes nothing; stale versions are ignored.
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS cqrs_rm_orders;
CREATE DATABASE cqrs_rm_orders;
\c cqrs_rm_orders
CREATE EXTENSION cqrs_conf;
RESET client_min_messages;
-- only the read models run: the process manager and other reactors, which
-- would answer these events with commands, stay out
UPDATE cqrs.projections SET state = 'stopped'
 WHERE name NOT IN ('conference_view', 'seat_type_view', 'draft_orders', 'priced_orders',
                    'seat_assignments_view', 'management_orders');

-- one event as the JSON cqrs.append takes
CREATE FUNCTION ev(t text, d jsonb) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT jsonb_build_object('type', t, 'data', d) $$;

\set conf '''c0000000-0000-4000-8000-000000000001'''
\set st_a '''a0000000-0000-4000-8000-00000000000a'''
\set st_b '''a0000000-0000-4000-8000-00000000000b'''
\set o1 '''01000000-0000-4000-8000-000000000001'''
\set o2 '''01000000-0000-4000-8000-000000000002'''
\set o3 '''01000000-0000-4000-8000-000000000003'''
\set pay3 '''0b000000-0000-4000-8000-000000000003'''
SELECT cqrs.derived_stream_id('SeatAssignments', :o1) AS sa1 \gset

-- Given: a conference with two seat types (names for priced lines and seats)
SELECT cqrs.append(:conf, 'Conference', -1, jsonb_build_array(ev('ConferenceCreated',
  jsonb_build_object('conferenceId', :conf, 'name', 'CQRS Summit', 'description', 'Two days',
    'location', 'Redmond', 'slug', 'cqrs2030', 'tagline', null, 'twitterSearch', null,
    'startDate', '2030-05-01', 'endDate', '2030-05-02',
    'owner', jsonb_build_object('name', 'Ann Owner', 'email', 'ann@contoso.com')))));
SELECT cqrs.append(:st_a, 'SeatType', -1, jsonb_build_array(ev('SeatCreated',
  jsonb_build_object('seatTypeId', :st_a, 'conferenceId', :conf, 'name', 'General',
    'description', 'General admission', 'price', 100.00, 'quantity', 100))));
SELECT cqrs.append(:st_b, 'SeatType', -1, jsonb_build_array(ev('SeatCreated',
  jsonb_build_object('seatTypeId', :st_b, 'conferenceId', :conf, 'name', 'Workshop',
    'description', 'Hands on', 'price', 12.25, 'quantity', 10))));
SELECT cqrs.append(cqrs.derived_stream_id('SeatsAvailability', :conf), 'SeatsAvailability', -1,
  jsonb_build_array(
    ev('AvailableSeatsChanged', jsonb_build_object('seats', jsonb_build_array(
         jsonb_build_object('seatType', :st_a, 'quantity', 100)))),
    ev('AvailableSeatsChanged', jsonb_build_object('seats', jsonb_build_array(
         jsonb_build_object('seatType', :st_b, 'quantity', 10)))),
    ev('SeatsReserved', jsonb_build_object('reservationId', :o1,
         'reservationDetails', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 2),
                                                 jsonb_build_object('seatType', :st_b, 'quantity', 1)),
         'availableSeatsChanged', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', -2),
                                                    jsonb_build_object('seatType', :st_b, 'quantity', -1)))),
    ev('SeatsReserved', jsonb_build_object('reservationId', :o3,
         'reservationDetails', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 1)),
         'availableSeatsChanged', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', -1))))));

-- Order 1: placed (3 A + 1 B, and a zero line), partially reserved (2 A + 1 B)
-- and priced again, registrant, confirmed; assignments; seats assigned
SELECT cqrs.append(:o1, 'Order', -1, jsonb_build_array(
  ev('OrderPlaced', jsonb_build_object('conferenceId', :conf,
     'seats', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 3),
                                jsonb_build_object('seatType', :st_b, 'quantity', 1)),
     'reservationAutoExpiration', '2030-04-01T10:15:00Z', 'accessCode', 'ABC123')),
  ev('OrderTotalsCalculated', jsonb_build_object('total', 312.25, 'isFreeOfCharge', false,
     'lines', jsonb_build_array(
        jsonb_build_object('seatType', :st_a, 'unitPrice', 100.00, 'quantity', 3, 'lineTotal', 300.00),
        jsonb_build_object('seatType', :st_b, 'unitPrice', 12.25, 'quantity', 1, 'lineTotal', 12.25)))),
  ev('OrderPartiallyReserved', jsonb_build_object('reservationExpiration', '2030-04-01T10:20:00Z',
     'seats', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 2),
                                jsonb_build_object('seatType', :st_b, 'quantity', 1)))),
  ev('OrderTotalsCalculated', jsonb_build_object('total', 212.25, 'isFreeOfCharge', false,
     'lines', jsonb_build_array(
        jsonb_build_object('seatType', :st_a, 'unitPrice', 100.00, 'quantity', 2, 'lineTotal', 200.00),
        jsonb_build_object('seatType', :st_b, 'unitPrice', 12.25, 'quantity', 1, 'lineTotal', 12.25))))));
SELECT cqrs.drain() > 0 AS drained;
SELECT state, reservation_expiration AT TIME ZONE 'UTC' AS expires, access_code, version
  FROM conference.draft_orders;
SELECT seat_type = :st_a AS is_a, requested_seats, reserved_seats
  FROM conference.draft_order_items ORDER BY seat_type;
SELECT total, is_free_of_charge, reservation_expiration AT TIME ZONE 'UTC' AS expires, version
  FROM conference.priced_orders;
SELECT position, description, unit_price, quantity, line_total FROM conference.priced_order_lines
 ORDER BY position;

SELECT cqrs.append(:o1, 'Order', 3, jsonb_build_array(
  ev('OrderRegistrantAssigned', '{"firstName": "Jane", "lastName": "Doe", "email": "jane@example.com"}'),
  ev('OrderConfirmed', '{}')));
SELECT cqrs.append(:'sa1', 'SeatAssignments', -1, jsonb_build_array(
  ev('SeatAssignmentsCreated', jsonb_build_object('orderId', :o1, 'seats', jsonb_build_array(
     jsonb_build_object('position', 0, 'seatType', :st_a),
     jsonb_build_object('position', 1, 'seatType', :st_a),
     jsonb_build_object('position', 2, 'seatType', :st_b)))),
  ev('SeatAssigned', jsonb_build_object('position', 0, 'seatType', :st_a,
     'attendee', '{"firstName": "Jane", "lastName": "Doe", "email": "jane@example.com"}'::jsonb)),
  ev('SeatAssigned', jsonb_build_object('position', 2, 'seatType', :st_b,
     'attendee', '{"firstName": "Bob", "lastName": "Roe", "email": "bob@example.com"}'::jsonb)),
  ev('SeatAssignmentUpdated', jsonb_build_object('position', 0,
     'attendee', '{"firstName": "Janet", "lastName": "Doe", "email": "jane@example.com"}'::jsonb)),
  ev('SeatAssigned', jsonb_build_object('position', 1, 'seatType', :st_a,
     'attendee', '{"firstName": "Max", "lastName": "Moe", "email": "max@example.com"}'::jsonb)),
  ev('SeatUnassigned', '{"position": 1}')));

-- Order 2: placed, completely reserved, expired
SELECT cqrs.append(:o2, 'Order', -1, jsonb_build_array(
  ev('OrderPlaced', jsonb_build_object('conferenceId', :conf,
     'seats', jsonb_build_array(jsonb_build_object('seatType', :st_b, 'quantity', 0)),
     'reservationAutoExpiration', '2030-04-01T11:15:00Z', 'accessCode', 'XYZ789')),
  ev('OrderTotalsCalculated', jsonb_build_object('total', 0, 'isFreeOfCharge', true,
     'lines', jsonb_build_array(
        jsonb_build_object('seatType', :st_b, 'unitPrice', 12.25, 'quantity', 0, 'lineTotal', 0)))),
  ev('OrderReservationCompleted', jsonb_build_object('reservationExpiration', '2030-04-01T11:20:00Z',
     'seats', '[]'::jsonb)),
  ev('OrderExpired', '{}')));

-- Order 3: placed, reserved, registrant, expired; then its payment
-- completes (after expiry): needs attention
SELECT cqrs.append(:o3, 'Order', -1, jsonb_build_array(
  ev('OrderPlaced', jsonb_build_object('conferenceId', :conf,
     'seats', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 1)),
     'reservationAutoExpiration', '2030-04-01T12:15:00Z', 'accessCode', 'QRS456')),
  ev('OrderTotalsCalculated', jsonb_build_object('total', 100.00, 'isFreeOfCharge', false,
     'lines', jsonb_build_array(
        jsonb_build_object('seatType', :st_a, 'unitPrice', 100.00, 'quantity', 1, 'lineTotal', 100.00)))),
  ev('OrderReservationCompleted', jsonb_build_object('reservationExpiration', '2030-04-01T12:20:00Z',
     'seats', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 1)))),
  ev('OrderRegistrantAssigned', '{"firstName": "Ann", "lastName": "Late", "email": "ann@example.com"}'),
  ev('OrderExpired', '{}')));
SELECT cqrs.drain() > 0 AS drained;
SELECT count(*) AS needs_attention FROM conference.management_orders WHERE status = 'needs_attention';
SELECT cqrs.append(:pay3, 'ThirdPartyProcessorPayment', -1, jsonb_build_array(
  ev('PaymentInitiated', jsonb_build_object('paymentSourceId', :o3, 'conferenceId', :conf,
     'description', 'Registration for CQRS Summit', 'totalAmount', 100.00, 'items', '[]'::jsonb)),
  ev('PaymentCompleted', jsonb_build_object('paymentSourceId', :o3))));

-- When
SELECT cqrs.drain() > 0 AS drained;

-- Then
SELECT order_id, state, reservation_expiration AT TIME ZONE 'UTC' AS expires,
       registrant_email, access_code, version
  FROM conference.draft_orders ORDER BY order_id;
SELECT order_id, seat_type = :st_a AS is_a, requested_seats, reserved_seats
  FROM conference.draft_order_items ORDER BY order_id, seat_type;
SELECT order_id, assignments_id = :'sa1' AS assignments, total, is_free_of_charge,
       reservation_expiration, version
  FROM conference.priced_orders ORDER BY order_id;
SELECT order_id, position, description, unit_price, quantity, line_total
  FROM conference.priced_order_lines ORDER BY order_id, position;
SELECT assignments_id = :'sa1' AS assignments, order_id, position, seat_name,
       first_name, last_name, email, version
  FROM conference.seat_assignments_view ORDER BY position;
SELECT order_id, assignments_id = :'sa1' AS assignments, access_code, registrant_name,
       registrant_email, total_amount, status, version
  FROM conference.management_orders ORDER BY order_id;
SELECT order_id, position, seat_type = :st_a AS is_a, first_name, last_name, email
  FROM conference.management_order_seats ORDER BY order_id, position;
SELECT order_id, status FROM conference.management_orders_expired ORDER BY order_id;
-- expired orders leave priced_orders (the reference deletes them) and are kept aside
SELECT order_id, total, is_free_of_charge, version FROM conference.priced_orders_expired
 ORDER BY order_id;
SELECT order_id, position, description, line_total FROM conference.priced_order_lines_expired
 ORDER BY order_id, position;

-- Re-delivery of every event to every handler: nothing changes
CREATE TEMP TABLE snap AS
SELECT 'draft' AS t, to_jsonb(x) AS r FROM conference.draft_orders x
UNION ALL SELECT 'items', to_jsonb(x) FROM conference.draft_order_items x
UNION ALL SELECT 'priced', to_jsonb(x) FROM conference.priced_orders x
UNION ALL SELECT 'lines', to_jsonb(x) FROM conference.priced_order_lines x
UNION ALL SELECT 'seats', to_jsonb(x) FROM conference.seat_assignments_view x
UNION ALL SELECT 'mgmt', to_jsonb(x) FROM conference.management_orders x
UNION ALL SELECT 'mgmt_seats', to_jsonb(x) FROM conference.management_order_seats x
UNION ALL SELECT 'mgmt_expired', to_jsonb(x) FROM conference.management_orders_expired x
UNION ALL SELECT 'priced_expired', to_jsonb(x) FROM conference.priced_orders_expired x
UNION ALL SELECT 'lines_expired', to_jsonb(x) FROM conference.priced_order_lines_expired x;
SET search_path = conference, pg_temp;
SELECT count(*) AS redelivered FROM (
  SELECT conference.project_draft_orders(e), conference.project_priced_orders(e),
         conference.project_seat_assignments(e), conference.project_management_orders(e)
    FROM cqrs.read_all(0, 1000) e) x;
RESET search_path;
SELECT count(*) AS changed FROM (
  (SELECT * FROM snap EXCEPT ALL
   (SELECT 'draft' AS t, to_jsonb(x) AS r FROM conference.draft_orders x
    UNION ALL SELECT 'items', to_jsonb(x) FROM conference.draft_order_items x
    UNION ALL SELECT 'priced', to_jsonb(x) FROM conference.priced_orders x
    UNION ALL SELECT 'lines', to_jsonb(x) FROM conference.priced_order_lines x
    UNION ALL SELECT 'seats', to_jsonb(x) FROM conference.seat_assignments_view x
    UNION ALL SELECT 'mgmt', to_jsonb(x) FROM conference.management_orders x
    UNION ALL SELECT 'mgmt_seats', to_jsonb(x) FROM conference.management_order_seats x
    UNION ALL SELECT 'mgmt_expired', to_jsonb(x) FROM conference.management_orders_expired x
    UNION ALL SELECT 'priced_expired', to_jsonb(x) FROM conference.priced_orders_expired x
    UNION ALL SELECT 'lines_expired', to_jsonb(x) FROM conference.priced_order_lines_expired x))) d;

-- A stale Order event (an older version than the row's) is ignored
SET search_path = conference, pg_temp;
SELECT conference.project_draft_orders(
  ROW(NULL, :o1, 'Order', 2, 'OrderUpdated',
      jsonb_build_object('seats', jsonb_build_array(jsonb_build_object('seatType', :st_b, 'quantity', 9))),
      '{}', gen_random_uuid(), now())::cqrs.event);
RESET search_path;
SELECT state, version FROM conference.draft_orders WHERE order_id = :o1;
SELECT count(*) AS items FROM conference.draft_order_items WHERE order_id = :o1;

-- Order 3's seats are re-acquired and it is confirmed (ConfirmPaidOrder's
-- event): paid, and priced again with the totals the registrant paid
SELECT cqrs.append(:o3, 'Order', 4, jsonb_build_array(ev('OrderConfirmed',
  jsonb_build_object('paymentId', :pay3, 'afterExpiry', true))));
SELECT cqrs.drain() > 0 AS drained;
SELECT order_id, registrant_name, total_amount, status FROM conference.management_orders
 ORDER BY order_id;
SELECT order_id, total, is_free_of_charge, reservation_expiration, version
  FROM conference.priced_orders ORDER BY order_id;
SELECT order_id, position, description, unit_price, quantity, line_total
  FROM conference.priced_order_lines WHERE order_id = :o3 ORDER BY position;
SELECT order_id, version FROM conference.priced_orders_expired ORDER BY order_id;
SELECT count(*) AS expired_lines_left FROM conference.priced_order_lines_expired
 WHERE order_id = :o3;
-- its seat assignments find the priced order again
SELECT cqrs.append(cqrs.derived_stream_id('SeatAssignments', :o3), 'SeatAssignments', -1,
  jsonb_build_array(ev('SeatAssignmentsCreated', jsonb_build_object('orderId', :o3,
    'seats', jsonb_build_array(jsonb_build_object('position', 0, 'seatType', :st_a))))));
SELECT cqrs.drain() > 0 AS drained;
SELECT assignments_id = cqrs.derived_stream_id('SeatAssignments', :o3) AS assignments
  FROM conference.priced_orders WHERE order_id = :o3;
-- a re-delivered OrderPlaced or OrderExpired changes nothing
CREATE TEMP TABLE priced_snap AS
SELECT to_jsonb(x) AS r FROM conference.priced_orders x
UNION ALL SELECT to_jsonb(x) FROM conference.priced_order_lines x
UNION ALL SELECT to_jsonb(x) FROM conference.priced_orders_expired x
UNION ALL SELECT to_jsonb(x) FROM conference.priced_order_lines_expired x;
SET search_path = conference, pg_temp;
SELECT count(*) AS redelivered FROM (
  SELECT conference.project_priced_orders(e) FROM cqrs.read_all(0, 1000) e
   WHERE e.event_type IN ('OrderPlaced', 'OrderExpired')) x;
RESET search_path;
SELECT count(*) AS changed FROM (
  (SELECT * FROM priced_snap EXCEPT ALL
   (SELECT to_jsonb(x) AS r FROM conference.priced_orders x
    UNION ALL SELECT to_jsonb(x) FROM conference.priced_order_lines x
    UNION ALL SELECT to_jsonb(x) FROM conference.priced_orders_expired x
    UNION ALL SELECT to_jsonb(x) FROM conference.priced_order_lines_expired x))) d;
-- The hypothetical OrderNeedsAttention event marks an order too
SELECT cqrs.append(:o1, 'Order', 5, jsonb_build_array(ev('OrderNeedsAttention', '{}')));
SELECT cqrs.drain() > 0 AS drained;
SELECT status FROM conference.management_orders WHERE order_id = :o1;

-- Analyst views
SELECT conference_slug, seat_type_name, price, quota, reserved, sold, available, revenue
  FROM conference.sales_summary ORDER BY seat_type_name;
SELECT orders_placed, orders_confirmed, orders_expired, orders_open, seats_sold, revenue
  FROM conference.orders_per_day;
SELECT access_code, status, registrant_name, position, seat_type_name, first_name, last_name, email
  FROM conference.order_attendees ORDER BY access_code, position;

-- payment_details_view reads the payments table (CQRS without ES)
SELECT (cqrs.send('InitiateThirdPartyProcessorPayment', jsonb_build_object(
  'paymentId', '0b000000-0000-4000-8000-000000000001', 'paymentSourceId', :o1,
  'conferenceId', :conf, 'description', 'Registration for CQRS Summit',
  'totalAmount', 212.25))).status;
SELECT (cqrs.send('CompleteThirdPartyProcessorPayment',
  '{"paymentId": "0b000000-0000-4000-8000-000000000001"}')).status;
SELECT payment_id, order_id, state, description, total_amount FROM conference.payment_details_view;

SELECT name, state, lag_events FROM cqrs.projection_status WHERE state <> 'stopped' ORDER BY name;

\c :orig_db
DROP DATABASE cqrs_rm_orders;
