-- SeatAssignments (domain.md section 3.6): AssignSeat / UnassignSeat with
-- the email and name rules.
\set QUIET on
\i sql/cmd_helpers.inc
\set QUIET off

SELECT t_given(t_uuid('3d1'), 'Order', jsonb_build_array(
       jsonb_build_object('type', 'OrderPlaced', 'data', jsonb_build_object(
           'conferenceId', t_uuid('3c0'), 'accessCode', 'ABCDEF',
           'reservationAutoExpiration', '2030-01-01T10:15:00Z',
           'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('3a1'), 'quantity', 2)))),
       jsonb_build_object('type', 'OrderConfirmed', 'data', '{}'::jsonb)));
SELECT t_send('CreateSeatAssignments', jsonb_build_object('orderId', t_uuid('3d1')));
SELECT cqrs.derived_stream_id('SeatAssignments', t_uuid('3d1')) AS sa \gset

-- Assign: SeatAssigned with the seat type from the state.
SELECT t_send('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 0,
       'attendee', jsonb_build_object('firstName', 'Ada', 'lastName', 'Lovelace', 'email', 'ada@contoso.com')));
-- Same email in another case, names differing only in case: nothing.
SELECT t_send('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 0,
       'attendee', jsonb_build_object('firstName', 'ADA', 'lastName', 'lovelace', 'email', 'ADA@Contoso.com')));
-- Same email, another name: SeatAssignmentUpdated.
SELECT t_send('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 0,
       'attendee', jsonb_build_object('firstName', 'Augusta', 'lastName', 'Lovelace', 'email', 'ada@contoso.com')));
-- Another email: SeatUnassigned, then SeatAssigned.
SELECT t_send('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 0,
       'attendee', jsonb_build_object('firstName', 'Grace', 'lastName', 'Hopper', 'email', 'grace@contoso.com')));
-- Unknown position: rejected.
SELECT t_send('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 2,
       'attendee', jsonb_build_object('firstName', 'X', 'lastName', 'Y', 'email', 'x@contoso.com')));
-- Missing or invalid email, negative position: payload errors.
SELECT t_error('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 1,
       'attendee', jsonb_build_object('firstName', 'X', 'lastName', 'Y')));
SELECT t_error('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 1,
       'attendee', jsonb_build_object('firstName', 'X', 'lastName', 'Y', 'email', 'x@y')));
SELECT t_error('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 1,
       'attendee', jsonb_build_object('firstName', 'X', 'lastName', 'Y', 'email', 'x..y@contoso.com')));
SELECT t_error('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', -1,
       'attendee', jsonb_build_object('email', 'x@contoso.com')));
-- Valid emails under the reference pattern.
SELECT e, t_error('AssignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 1,
       'attendee', jsonb_build_object('firstName', 'X', 'lastName', 'Y', 'email', e))) AS result
  FROM unnest(ARRAY['first.last@sub.contoso.com', 'a-b_c@x-y.org', 'josé@contoso.es', '.a@b.com', 'a.@b.com', 'a@b.']) AS e;

-- Unassign: an empty seat gives nothing; an assigned one SeatUnassigned.
SELECT t_send('UnassignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 1));
SELECT t_send('UnassignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 0));
SELECT t_send('UnassignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 0));
SELECT t_send('UnassignSeat', jsonb_build_object('seatAssignmentsId', :'sa', 'position', 5));
-- Unknown assignments: rejected.
SELECT t_send('UnassignSeat', jsonb_build_object('seatAssignmentsId', t_uuid('3f9'), 'position', 0));

SELECT t_short((cqrs.load(:'sa')->'state')::text);
