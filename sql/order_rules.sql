-- Order aggregate and pricing (domain.md sections 3.3, 3.4, 8, 9):
-- Given events / When command / Then events.
\set QUIET on
\i sql/cmd_helpers.inc
\set QUIET off

INSERT INTO conference.conferences (id, name, description, location, start_date,
       end_date, owner_name, owner_email, slug)
VALUES (t_uuid('1c0'), 'Order Conf', 'd', 'l', '2030-01-01', '2030-01-02', 'o',
        'o@contoso.com', 'order_rules_conf');
INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
VALUES (t_uuid('1a1'), t_uuid('1c0'), 'General', 'g', 100, 100.00),
       (t_uuid('1b1'), t_uuid('1c0'), 'Workshop', 'w', 100, 12.50),
       (t_uuid('1f1'), t_uuid('1c0'), 'Free pass', 'f', 100, 0.00);

-- Given no order, When RegisterToConference: OrderPlaced (zero-quantity
-- items carried through) and OrderTotalsCalculated in input order.
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('1d1'),
       'conferenceId', t_uuid('1c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1b1'), 'quantity', 3),
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 0),
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 2))));
-- 15-minute window from the transaction time; 6-character access code.
SELECT (data->>'reservationAutoExpiration')::timestamptz - recorded_at AS window,
       data->>'reservationAutoExpiration' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$' AS iso_utc,
       data->>'accessCode' ~ '^[ABCDEFGHJKMNPQRSTUVWXYZ1-9]{6}$' AS access_code_ok
  FROM cqrs.events WHERE stream_id = t_uuid('1d1') AND event_type = 'OrderPlaced';

-- Given OrderPlaced, When RegisterToConference: OrderUpdated and new
-- totals; the stored conference is used, not the command's.
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('1d1'),
       'conferenceId', t_uuid('1c9'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 1))));
SELECT t_short(((cqrs.load(t_uuid('1d1'))->'state') - 'accessCode'::text - 'reservationExpiration'::text)::text);

-- An unknown seat type: rejected with the pricing service's message.
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('1d2'),
       'conferenceId', t_uuid('1c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1a9'), 'quantity', 1))));
SELECT cqrs.stream_version(t_uuid('1d2')) AS not_created;

-- A free order: IsFreeOfCharge = (Total == 0).
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('1d3'),
       'conferenceId', t_uuid('1c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1f1'), 'quantity', 2))));

-- MarkSeatsAsReserved: everything reserved -> OrderReservationCompleted,
-- no totals (zero-quantity items do not count).
SELECT t_given(t_uuid('1d4'), 'Order', jsonb_build_array(
       jsonb_build_object('type', 'OrderPlaced', 'data', jsonb_build_object(
           'conferenceId', t_uuid('1c0'), 'accessCode', 'ABCDEF',
           'reservationAutoExpiration', '2030-01-01T10:15:00Z',
           'seats', jsonb_build_array(
               jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 4),
               jsonb_build_object('seatType', t_uuid('1b1'), 'quantity', 0))))));
SELECT t_send('MarkSeatsAsReserved', jsonb_build_object('orderId', t_uuid('1d4'),
       'expiration', '2030-01-01T10:15:00Z', 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 4))));
-- partially reserved -> OrderPartiallyReserved, priced from the reserved seats
SELECT t_send('MarkSeatsAsReserved', jsonb_build_object('orderId', t_uuid('1d4'),
       'expiration', '2030-01-01T10:15:00+00', 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 3))));
-- nothing reserved -> partial, empty, total 0 and free of charge
SELECT t_send('MarkSeatsAsReserved', jsonb_build_object('orderId', t_uuid('1d4'),
       'expiration', '2030-01-01T10:15:00Z', 'seats', '[]'::jsonb));
SELECT t_short((cqrs.load(t_uuid('1d4'))->'state')::text);
-- a missing order (Get): rejected
SELECT t_send('MarkSeatsAsReserved', jsonb_build_object('orderId', t_uuid('1d9'),
       'expiration', '2030-01-01T10:15:00Z', 'seats', '[]'::jsonb));

-- AssignRegistrantDetails: OrderRegistrantAssigned, no guard.
SELECT t_send('AssignRegistrantDetails', jsonb_build_object('orderId', t_uuid('1d4'),
       'firstName', 'Ada', 'lastName', 'Lovelace', 'email', 'ada.lovelace@contoso.com'));

-- ConfirmOrder: OrderConfirmed; again: nothing (idempotent).
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('1d4')));
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('1d4')));
-- A confirmed order cannot be modified or expired.
SELECT t_send('MarkSeatsAsReserved', jsonb_build_object('orderId', t_uuid('1d4'),
       'expiration', '2030-01-01T10:15:00Z', 'seats', '[]'::jsonb));
SELECT t_send('RejectOrder', jsonb_build_object('orderId', t_uuid('1d4')));
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('1d4'),
       'conferenceId', t_uuid('1c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 1))));
SELECT t_short((cqrs.load(t_uuid('1d4'))->'state')::text);

-- RejectOrder: a missing order is a no-op; expiring emits OrderExpired
-- once; an expired order cannot be confirmed or updated.
SELECT t_send('RejectOrder', jsonb_build_object('orderId', t_uuid('1d8')));
SELECT cqrs.stream_version(t_uuid('1d8')) AS still_missing;
SELECT t_send('RejectOrder', jsonb_build_object('orderId', t_uuid('1d3')));
SELECT t_send('RejectOrder', jsonb_build_object('orderId', t_uuid('1d3')));
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('1d3')));
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('1d3'),
       'conferenceId', t_uuid('1c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 1))));
SELECT cqrs.load(t_uuid('1d3'))->'state'->>'status' AS status,
       cqrs.load(t_uuid('1d3'))->'state'->'isExpired' AS is_expired;

-- Versioning: V1 events load through the upcaster.  OrderPaymentConfirmed
-- means OrderConfirmed; OrderTotalsCalculated without isFreeOfCharge is
-- not free.
SELECT t_given(t_uuid('1d5'), 'Order', jsonb_build_array(
       jsonb_build_object('type', 'OrderPlaced', 'data', jsonb_build_object(
           'conferenceId', t_uuid('1c0'), 'accessCode', 'V1CODE',
           'reservationAutoExpiration', '2012-05-01T10:15:00Z',
           'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 2)))),
       jsonb_build_object('type', 'OrderTotalsCalculated', 'data', jsonb_build_object(
           'total', 200.00, 'lines', '[]'::jsonb)),
       jsonb_build_object('type', 'OrderPaymentConfirmed', 'data', '{}'::jsonb)));
SELECT t_short((cqrs.load(t_uuid('1d5'))->'state')::text);
SELECT t_send('RejectOrder', jsonb_build_object('orderId', t_uuid('1d5')));

-- Time travel: the order as it was before it was confirmed.
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('1d6'),
       'conferenceId', t_uuid('1c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 1))));
SELECT pg_catalog.clock_timestamp() AS before_confirm \gset
SELECT pg_sleep(0.01);
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('1d6')));
SELECT cqrs.load(t_uuid('1d6'))->'state'->>'status' AS now_status,
       cqrs.load(t_uuid('1d6'), :'before_confirm')->'state'->>'status' AS then_status,
       cqrs.load(t_uuid('1d6'), :'before_confirm')->'version' AS then_version;

-- Snapshots give the same state as a full replay.
SET cqrs_conf.snapshot_every = 2;
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('1d7'),
       'conferenceId', t_uuid('1c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 2))));
SELECT t_send('MarkSeatsAsReserved', jsonb_build_object('orderId', t_uuid('1d7'),
       'expiration', '2030-01-01T10:15:00Z', 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 1))));
SELECT t_send('AssignRegistrantDetails', jsonb_build_object('orderId', t_uuid('1d7'),
       'firstName', 'Grace', 'lastName', 'Hopper', 'email', 'grace@contoso.com'));
SELECT cqrs.drain() AS drained \gset
RESET cqrs_conf.snapshot_every;
SELECT count(*) AS snapshots FROM cqrs.snapshots WHERE stream_id = t_uuid('1d7');
SELECT t_short(((cqrs.load(t_uuid('1d7'))->'state') - 'accessCode'::text - 'reservationExpiration'::text)::text);

-- CreateSeatAssignments: only for a confirmed order; positions 0..N-1 in
-- list order; a second time finds the first assignments.
SELECT t_send('CreateSeatAssignments', jsonb_build_object('orderId', t_uuid('1d7')));
SELECT t_send('CreateSeatAssignments', jsonb_build_object('orderId', t_uuid('1d0')));
SELECT t_given(t_uuid('1e1'), 'Order', jsonb_build_array(
       jsonb_build_object('type', 'OrderPlaced', 'data', jsonb_build_object(
           'conferenceId', t_uuid('1c0'), 'accessCode', 'ABCDEF',
           'reservationAutoExpiration', '2030-01-01T10:15:00Z',
           'seats', jsonb_build_array(
               jsonb_build_object('seatType', t_uuid('1a1'), 'quantity', 2),
               jsonb_build_object('seatType', t_uuid('1f1'), 'quantity', 0),
               jsonb_build_object('seatType', t_uuid('1b1'), 'quantity', 3)))),
       jsonb_build_object('type', 'OrderConfirmed', 'data', '{}'::jsonb)));
SELECT t_send('CreateSeatAssignments', jsonb_build_object('orderId', t_uuid('1e1')));
SELECT t_send('CreateSeatAssignments', jsonb_build_object('orderId', t_uuid('1e1')));
SELECT (cqrs.send('CreateSeatAssignments', jsonb_build_object('orderId', t_uuid('1e1')))).stream_id
       = cqrs.derived_stream_id('SeatAssignments', t_uuid('1e1')) AS derived_id;

-- Banker's rounding, as .NET Math.Round(x, 2).
SELECT x, conference.round_half_even(x) AS half_even, round(x, 2) AS half_up
  FROM unnest('{0.125, 0.135, 2.675, 0.005, 0.015, -0.125, 1.2350001, 7}'::numeric[]) AS x;
