-- A registration end to end, driven by hand with the commands the process
-- manager and the UI send (domain.md sections 3.7, 3.9): register, reserve,
-- mark reserved, pay, confirm, commit, assign seats.  Plus the zero-cost
-- flow (the UI confirms directly) and expiry releasing the seats.
\set QUIET on
\i sql/cmd_helpers.inc
\set QUIET off

INSERT INTO conference.conferences (id, name, description, location, start_date,
       end_date, owner_name, owner_email, slug)
VALUES (t_uuid('6c0'), 'Flow Conf', 'd', 'l', '2030-01-01', '2030-01-02', 'o',
        'o@contoso.com', 'order_flow_conf');
INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
VALUES (t_uuid('6a1'), t_uuid('6c0'), 'General', 'g', 3, 199.99),
       (t_uuid('6f1'), t_uuid('6c0'), 'Volunteer', 'v', 5, 0);
SELECT t_send('AddSeats', jsonb_build_object('conferenceId', t_uuid('6c0'), 'seatType', t_uuid('6a1'), 'quantity', 3));
SELECT t_send('AddSeats', jsonb_build_object('conferenceId', t_uuid('6c0'), 'seatType', t_uuid('6f1'), 'quantity', 5));

-- 1. The registrant asks for 4 General seats; 3 exist.
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('6d1'),
       'conferenceId', t_uuid('6c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('6a1'), 'quantity', 4))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('6c0'),
       'reservationId', t_uuid('6d1'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('6a1'), 'quantity', 4))));
SELECT t_send('MarkSeatsAsReserved', jsonb_build_object('orderId', t_uuid('6d1'),
       'expiration', '2030-01-01T00:15:00Z', 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('6a1'), 'quantity', 3))));
SELECT t_send('AssignRegistrantDetails', jsonb_build_object('orderId', t_uuid('6d1'),
       'firstName', 'Ada', 'lastName', 'Lovelace', 'email', 'ada@contoso.com'));

-- 2. Payment for the priced order, then confirmation and commit.
SELECT t_send('InitiateThirdPartyProcessorPayment', jsonb_build_object(
       'paymentId', t_uuid('6e1'), 'paymentSourceId', t_uuid('6d1'), 'conferenceId', t_uuid('6c0'),
       'description', 'Flow Conf registration',
       'totalAmount', (SELECT cqrs.load(t_uuid('6d1'))->'state'->'total'),
       'items', jsonb_build_array(jsonb_build_object('description', '3 x General', 'amount', 599.97))));
SELECT t_send('CompleteThirdPartyProcessorPayment', jsonb_build_object('paymentId', t_uuid('6e1')));
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('6d1')));
SELECT t_send('CommitSeatReservation', jsonb_build_object('conferenceId', t_uuid('6c0'),
       'reservationId', t_uuid('6d1')));
SELECT t_send('CreateSeatAssignments', jsonb_build_object('orderId', t_uuid('6d1')));
SELECT t_send('AssignSeat', jsonb_build_object(
       'seatAssignmentsId', cqrs.derived_stream_id('SeatAssignments', t_uuid('6d1')), 'position', 2,
       'attendee', jsonb_build_object('firstName', 'Grace', 'lastName', 'Hopper', 'email', 'grace@contoso.com')));

-- 3. A zero-cost order: the UI confirms it directly, no payment.
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('6d2'),
       'conferenceId', t_uuid('6c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('6f1'), 'quantity', 2))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('6c0'),
       'reservationId', t_uuid('6d2'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('6f1'), 'quantity', 2))));
SELECT t_send('MarkSeatsAsReserved', jsonb_build_object('orderId', t_uuid('6d2'),
       'expiration', '2030-01-01T00:15:00Z', 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('6f1'), 'quantity', 2))));
SELECT cqrs.load(t_uuid('6d2'))->'state'->'isFreeOfCharge' AS free;
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('6d2')));

-- 4. An order that expires: the process manager rejects it and cancels
-- the reservation; the seats come back; a late confirmation is refused.
SELECT t_send('RegisterToConference', jsonb_build_object('orderId', t_uuid('6d3'),
       'conferenceId', t_uuid('6c0'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('6f1'), 'quantity', 3))));
SELECT t_send('MakeSeatReservation', jsonb_build_object('conferenceId', t_uuid('6c0'),
       'reservationId', t_uuid('6d3'), 'seats', jsonb_build_array(
           jsonb_build_object('seatType', t_uuid('6f1'), 'quantity', 3))));
SELECT t_send('RejectOrder', jsonb_build_object('orderId', t_uuid('6d3')));
SELECT t_send('CancelSeatReservation', jsonb_build_object('conferenceId', t_uuid('6c0'),
       'reservationId', t_uuid('6d3')));
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('6d3')));

SELECT t_short((cqrs.load(cqrs.derived_stream_id('SeatsAvailability', t_uuid('6c0')))->'state')::text);
SELECT t_short(stream_type || ' ' || event_type) AS log
  FROM cqrs.events
 WHERE stream_id IN (t_uuid('6d1'), t_uuid('6e1'), cqrs.derived_stream_id('SeatAssignments', t_uuid('6d1')))
 ORDER BY recorded_at, stream_id, version;
