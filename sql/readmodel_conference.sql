-- Read models conference_view and seat_type_view: Given events (appended
-- in the exact shapes of Conference Management and SeatsAvailability),
-- When cqrs.drain(), Then the rows; repeated and stale events change nothing;
-- an update without its row is a poison event that stops only its projection.
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS cqrs_rm_conference;
CREATE DATABASE cqrs_rm_conference;
\c cqrs_rm_conference
CREATE EXTENSION cqrs_conf;
RESET client_min_messages;
-- only the read models run: the process manager and other reactors, which
-- would answer these events with commands, stay out
UPDATE cqrs.projections SET state = 'stopped'
 WHERE name NOT IN ('conference_view', 'seat_type_view', 'draft_orders', 'priced_orders',
                    'seat_assignments_view', 'management_orders');

\set conf '''c0000000-0000-4000-8000-000000000001'''
\set conf2 '''c0000000-0000-4000-8000-000000000002'''
\set st_a '''a0000000-0000-4000-8000-00000000000a'''
\set st_b '''a0000000-0000-4000-8000-00000000000b'''
SELECT cqrs.derived_stream_id('SeatsAvailability', :conf) AS sa \gset

-- Given a conference created, updated, published, and two seat types
SELECT cqrs.append(:conf, 'Conference', -1, jsonb_build_array(
  jsonb_build_object('type', 'ConferenceCreated', 'data', jsonb_build_object(
    'conferenceId', :conf, 'name', 'CQRS Summit', 'description', 'Two days',
    'location', 'Redmond', 'slug', 'cqrs2030', 'tagline', null, 'twitterSearch', '#cqrs',
    'startDate', '2030-05-01', 'endDate', '2030-05-02',
    'owner', jsonb_build_object('name', 'Ann Owner', 'email', 'ann@contoso.com'))),
  jsonb_build_object('type', 'ConferenceUpdated', 'data', jsonb_build_object(
    'conferenceId', :conf, 'name', 'CQRS Summit 2030', 'description', 'Two days of ES',
    'location', 'Redmond', 'slug', 'cqrs2030', 'tagline', 'Commands in', 'twitterSearch', '#cqrs',
    'startDate', '2030-05-01', 'endDate', '2030-05-03',
    'owner', jsonb_build_object('name', 'Ann Owner', 'email', 'ann@contoso.com')))));
SELECT cqrs.append(:st_a, 'SeatType', -1, jsonb_build_array(jsonb_build_object(
  'type', 'SeatCreated', 'data', jsonb_build_object('seatTypeId', :st_a, 'conferenceId', :conf,
    'name', 'General', 'description', 'General admission', 'price', 199.00, 'quantity', 100))));
SELECT cqrs.append(:st_b, 'SeatType', -1, jsonb_build_array(jsonb_build_object(
  'type', 'SeatCreated', 'data', jsonb_build_object('seatTypeId', :st_b, 'conferenceId', :conf,
    'name', 'Workshop', 'description', 'Hands on', 'price', 49.50, 'quantity', 10))));
SELECT cqrs.append(:conf, 'Conference', 1,
  '[{"type": "ConferencePublished", "data": {"conferenceId": "c0000000-0000-4000-8000-000000000001"}}]');
-- SeatsAvailability: AddSeats for both, a reservation, a cancellation
SELECT cqrs.append(:'sa', 'SeatsAvailability', -1, jsonb_build_array(
  jsonb_build_object('type', 'AvailableSeatsChanged', 'data', jsonb_build_object(
    'seats', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 100)))),
  jsonb_build_object('type', 'AvailableSeatsChanged', 'data', jsonb_build_object(
    'seats', jsonb_build_array(jsonb_build_object('seatType', :st_b, 'quantity', 10)))),
  jsonb_build_object('type', 'SeatsReserved', 'data', jsonb_build_object(
    'reservationId', 'd0000000-0000-4000-8000-000000000001',
    'reservationDetails', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 6),
                                            jsonb_build_object('seatType', :st_b, 'quantity', 4)),
    'availableSeatsChanged', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', -6),
                                               jsonb_build_object('seatType', :st_b, 'quantity', -4)))),
  jsonb_build_object('type', 'SeatsReserved', 'data', jsonb_build_object(
    'reservationId', 'd0000000-0000-4000-8000-000000000002',
    'reservationDetails', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 2)),
    'availableSeatsChanged', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', -2)))),
  jsonb_build_object('type', 'SeatsReservationCommitted', 'data', jsonb_build_object(
    'reservationId', 'd0000000-0000-4000-8000-000000000001')),
  jsonb_build_object('type', 'SeatsReservationCancelled', 'data', jsonb_build_object(
    'reservationId', 'd0000000-0000-4000-8000-000000000002',
    'availableSeatsChanged', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 2))))));

-- When
SELECT cqrs.drain() > 0 AS drained;

-- Then
SELECT id, slug, name, description, location, tagline, twitter_search, start_date, end_date,
       is_published, owner_name, owner_email, version
  FROM conference.conference_view;
SELECT name, description, price, quantity, available_quantity, seats_availability_version,
       version, seats_availability_id = :'sa' AS sa_stream
  FROM conference.seat_type_view ORDER BY name;

-- Unpublish, a seat type update (quantity and price), RemoveSeats below zero
SELECT cqrs.append(:conf, 'Conference', 2,
  '[{"type": "ConferenceUnpublished", "data": {"conferenceId": "c0000000-0000-4000-8000-000000000001"}}]');
SELECT cqrs.append(:st_b, 'SeatType', 0, jsonb_build_array(jsonb_build_object(
  'type', 'SeatUpdated', 'data', jsonb_build_object('seatTypeId', :st_b, 'conferenceId', :conf,
    'name', 'Workshop+', 'description', 'Hands on', 'price', 59.00, 'quantity', 2))));
SELECT cqrs.append(:'sa', 'SeatsAvailability', 5, jsonb_build_array(
  jsonb_build_object('type', 'AvailableSeatsChanged', 'data', jsonb_build_object(
    'seats', jsonb_build_array(jsonb_build_object('seatType', :st_b, 'quantity', -8))))));
SELECT cqrs.drain() > 0 AS drained;
SELECT is_published, version FROM conference.conference_view;
SELECT name, price, quantity, available_quantity, seats_availability_version
  FROM conference.seat_type_view ORDER BY name;

-- Re-delivery: the handlers get the same events again (as an at-least-once
-- bus would deliver them): nothing changes
CREATE TEMP TABLE before_c AS SELECT * FROM conference.conference_view;
CREATE TEMP TABLE before_s AS SELECT * FROM conference.seat_type_view;
SET search_path = conference, pg_temp;
SELECT count(*) AS redelivered FROM (
  SELECT conference.project_conference_view(e) FROM cqrs.read_all(0, 1000) e
   WHERE e.event_type LIKE 'Conference%'
  UNION ALL
  SELECT conference.project_seat_type_view(e) FROM cqrs.read_all(0, 1000) e
   WHERE e.event_type IN ('SeatCreated', 'SeatUpdated', 'AvailableSeatsChanged',
                          'SeatsReserved', 'SeatsReservationCancelled')) x;
RESET search_path;
SELECT count(*) AS changed_conferences FROM (
  SELECT * FROM conference.conference_view EXCEPT SELECT * FROM before_c) x;
SELECT count(*) AS changed_seat_types FROM (
  SELECT * FROM conference.seat_type_view EXCEPT SELECT * FROM before_s) x;

-- A stale SeatsAvailability event (a version the conference has passed)
-- is ignored, as the reference's SeatsAvailabilityVersion guard does
SET search_path = conference, pg_temp;
SELECT conference.project_seat_type_view(
  ROW(NULL, :'sa', 'SeatsAvailability', 3, 'AvailableSeatsChanged',
      jsonb_build_object('seats', jsonb_build_array(jsonb_build_object('seatType', :st_a, 'quantity', 500))),
      '{}', gen_random_uuid(), now())::cqrs.event);
RESET search_path;
SELECT name, available_quantity FROM conference.seat_type_view ORDER BY name;

-- SeatsAvailability events of a conference without seat types are dropped
SELECT cqrs.append(cqrs.derived_stream_id('SeatsAvailability', :conf2), 'SeatsAvailability', -1,
  '[{"type": "AvailableSeatsChanged", "data": {"seats": [{"seatType": "a0000000-0000-4000-8000-0000000000ff", "quantity": 5}]}}]');
SELECT cqrs.drain() > 0 AS drained;
SELECT count(*) AS rows FROM conference.seat_type_view;

-- A poison event: ConferenceUpdated for a conference the view never saw
-- (the reference throws).  conference_view stops there, visibly; the
-- other projections carry on.
SELECT cqrs.append(:conf2, 'Conference', -1, jsonb_build_array(
  jsonb_build_object('type', 'ConferencePublished', 'data', jsonb_build_object('conferenceId', :conf2))));
SELECT cqrs.append(:st_a, 'SeatType', 0, jsonb_build_array(jsonb_build_object(
  'type', 'SeatUpdated', 'data', jsonb_build_object('seatTypeId', :st_a, 'conferenceId', :conf,
    'name', 'General', 'description', 'General admission', 'price', 189.00, 'quantity', 100))));
SELECT cqrs.drain() > 0 AS drained;
SELECT name, state, lag_events > 0 AS behind, last_error, last_error_sqlstate
  FROM cqrs.projection_status WHERE name IN ('conference_view', 'seat_type_view') ORDER BY name;
SELECT name, price FROM conference.seat_type_view ORDER BY name;
SELECT cqrs.wait_for_projections('100 ms') AS all_caught_up;

\c :orig_db
DROP DATABASE cqrs_rm_conference;
