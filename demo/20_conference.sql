-- The business customer creates a conference with plain SQL on the
-- Conference Management tables and publishes it.  The triggers turn each
-- change into an integration event in the same transaction; the background
-- worker turns SeatCreated into AddSeats, so SeatsAvailability, and the
-- seat-type read model, get the quotas a moment later.
\pset footer off

INSERT INTO conference.conferences
       (name, description, location, tagline, start_date, end_date,
        owner_name, owner_email, slug)
VALUES ('CQRS Summit 2030', 'Two days of event sourcing inside the database', 'Redmond',
        'Commands in, events out', '2030-05-01', '2030-05-02',
        'Ann Owner', 'ann@contoso.com', 'cqrs_summit')
RETURNING id AS conference_id, access_code \gset

INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'conference_id', 'Conference pass', 'Both days, all talks', 350, 249.50),
       (:'conference_id', 'Community workshop', 'Free hands-on workshop, day 2', 100, 0)
RETURNING name, quantity, price;

SELECT conference.publish(:'conference_id');

-- the demo's own bookkeeping (schema demo, not part of the extension)
INSERT INTO demo.scenario (conference_id, pass_id, workshop_id, registrants)
SELECT :'conference_id',
       (SELECT id FROM conference.seat_types WHERE conference_id = :'conference_id'
                                               AND name = 'Conference pass'),
       (SELECT id FROM conference.seat_types WHERE conference_id = :'conference_id'
                                               AND name = 'Community workshop'),
       :registrants;

-- Wait for the worker (it sequences the events, then SeatCreated ->
-- AddSeats -> AvailableSeatsChanged -> seat_type_view), polling the read
-- model; no cqrs.drain() here.
SELECT demo.wait_until($$SELECT count(*) = 2 AND bool_and(available_quantity = quantity)
                          FROM conference.seat_type_view
                         WHERE conference_id = demo.conference_id()$$,
                       'the seat quotas in seat_type_view') AS waited;

-- The integration events, committed with the rows, and what the worker
-- made of them.
SELECT global_position, stream_type, event_type, left(data::text, 60) AS data
  FROM cqrs.events
 WHERE stream_id IN (:'conference_id', cqrs.derived_stream_id('SeatsAvailability', :'conference_id'))
    OR stream_id IN (SELECT id FROM conference.seat_types WHERE conference_id = :'conference_id')
 ORDER BY global_position;

SELECT slug, name, is_published FROM conference.conference_view WHERE id = :'conference_id';
SELECT name, price, quantity, available_quantity
  FROM conference.seat_type_view WHERE conference_id = :'conference_id' ORDER BY price DESC;
-- the same numbers in the SeatsAvailability aggregate, folded from its stream
SELECT t.name, (r->>'quantity')::integer AS remaining_seats
  FROM jsonb_array_elements(cqrs.load(cqrs.derived_stream_id('SeatsAvailability', :'conference_id'))
                            -> 'state' -> 'remainingSeats') AS r
  JOIN conference.seat_types t ON t.id = (r->>'seatType')::uuid
 ORDER BY t.price DESC;
