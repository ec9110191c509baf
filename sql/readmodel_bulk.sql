-- Set-based bulk loaders (cqrs.projections.bulk_loader) against the
-- handlers: a realistic workload driven through the commands and the
-- process manager (orders placed, partially reserved, reserved, updated,
-- expired, confirmed, paid after expiry with the seats re-acquired or not,
-- zero-cost, seat assignments assigned, re-assigned, updated and
-- unassigned; seat types renamed and repriced meanwhile), then
-- cqrs.verify_projection (bulk prefix + handler) and a handler-only replay
-- agree with the live model of every projection; a rebuild gives the same
-- rows; a loader stops its prefix before an event it does not cover and
-- the handler goes on; a failing loader falls back to the handler.
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS cqrs_rm_bulk;
CREATE DATABASE cqrs_rm_bulk;
\c cqrs_rm_bulk
CREATE EXTENSION cqrs_conf;
RESET client_min_messages;

CREATE FUNCTION w_id(kind text, i integer) RETURNS uuid LANGUAGE sql IMMUTABLE
  AS $$ SELECT md5(kind || ':' || i)::uuid $$;
-- RegisterToConference for order i of conference c with (seat type, quantity) pairs
CREATE FUNCTION w_register(i integer, c text, seats jsonb) RETURNS text LANGUAGE sql
  AS $$ SELECT (cqrs.send('RegisterToConference', jsonb_build_object(
         'orderId', w_id('order', i), 'conferenceId', w_id('conf', 0),
         'seats', seats))).status $$;
CREATE FUNCTION w_seat(t text, q integer) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT jsonb_build_object('seatType', w_id(t, 0), 'quantity', q) $$;
CREATE FUNCTION w_pay(i integer, attempt integer DEFAULT 0) RETURNS text LANGUAGE sql AS $$
  SELECT (cqrs.send('InitiateThirdPartyProcessorPayment', jsonb_build_object(
         'paymentId', w_id('payment' || attempt, i), 'paymentSourceId', w_id('order', i),
         'conferenceId', w_id('conf', 0), 'description', 'Registration',
         'totalAmount', 1))).status;
  SELECT (cqrs.send('CompleteThirdPartyProcessorPayment',
         jsonb_build_object('paymentId', w_id('payment' || attempt, i)))).status;
$$;
CREATE FUNCTION w_assign(i integer, pos integer, first text, last text, email text)
  RETURNS text LANGUAGE sql
  AS $$ SELECT (cqrs.send('AssignSeat', jsonb_build_object(
         'seatAssignmentsId', cqrs.derived_stream_id('SeatAssignments', w_id('order', i)),
         'position', pos, 'attendee', jsonb_build_object('firstName', first,
         'lastName', last, 'email', email)))).status $$;
CREATE FUNCTION w_drain(as_of timestamptz DEFAULT now()) RETURNS boolean LANGUAGE sql
  AS $$ SELECT cqrs.drain(as_of) > 0 $$;

-- Given: a conference with a plentiful, a scarce and a free seat type
INSERT INTO conference.conferences (id, name, description, location, start_date, end_date,
                                    owner_name, owner_email, slug)
VALUES (w_id('conf', 0), 'Bulk Conf', 'd', 'l', '2030-01-01', '2030-01-02', 'o',
        'o@contoso.com', 'bulk_conf');
INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
VALUES (w_id('general', 0), w_id('conf', 0), 'General', 'g', 1000, 100),
       (w_id('workshop', 0), w_id('conf', 0), 'Workshop', 'w', 60, 12.25),
       (w_id('free', 0), w_id('conf', 0), 'Community', 'f', 500, 0);
SELECT conference.publish(w_id('conf', 0));
SELECT w_drain();

-- When: 240 orders; by i % 12: 0 free seats, 1 and 8 scarce workshop
-- seats, the others general seats (some with a workshop seat)
SELECT status, count(*) FROM (
  SELECT w_register(i, 'conf', CASE i % 12
           WHEN 0 THEN jsonb_build_array(w_seat('free', 2))
           WHEN 1 THEN jsonb_build_array(w_seat('workshop', 5), w_seat('general', 0))
           WHEN 8 THEN jsonb_build_array(w_seat('workshop', 4))
           WHEN 5 THEN jsonb_build_array(w_seat('general', 2), w_seat('workshop', 1))
           ELSE jsonb_build_array(w_seat('general', i % 3 + 1)) END) AS status
    FROM generate_series(1, 240) i) x GROUP BY 1;
SELECT w_drain();
-- the seat types change: later totals and assignments name them anew
UPDATE conference.seat_types SET name = 'General admission', price = 110, quantity = 1200
 WHERE id = w_id('general', 0);
SELECT w_drain();
-- some orders change their seats (OrderUpdated), and are reserved again
SELECT status, count(*) FROM (
  SELECT w_register(i, 'conf', jsonb_build_array(w_seat('general', 4), w_seat('free', 1))) AS status
    FROM generate_series(1, 240) i WHERE i % 12 = 2) x GROUP BY 1;
SELECT w_drain();
-- registrants
SELECT (r).status, count(*) FROM (
  SELECT cqrs.send('AssignRegistrantDetails', jsonb_build_object('orderId', w_id('order', i),
         'firstName', 'First' || i, 'lastName', 'Last' || i,
         'email', 'r' || i || '@example.com')) AS r
    FROM generate_series(1, 240) i WHERE i % 12 NOT IN (1, 2)) x GROUP BY 1;
-- paid in time (3 to 6), free ones confirmed directly (0)
SELECT status, count(*) FROM (
  SELECT w_pay(i) AS status FROM generate_series(1, 240) i WHERE i % 12 IN (3, 4, 5, 6)
  UNION ALL
  SELECT (cqrs.send('ConfirmOrder', jsonb_build_object('orderId', w_id('order', i)))).status
    FROM generate_series(1, 240) i WHERE i % 12 = 0) x GROUP BY 1;
SELECT w_drain();
-- attendees: assigned; some re-assigned (another email), renamed, unassigned
SELECT status, count(*) FROM (
  SELECT w_assign(i, 0, 'Ann' || i, 'A', 'a' || i || '@example.com') AS status
    FROM generate_series(1, 240) i WHERE i % 12 IN (0, 3, 4, 5)
  UNION ALL
  SELECT w_assign(i, 1, 'Bob' || i, 'B', 'b' || i || '@example.com')
    FROM generate_series(1, 240) i WHERE i % 12 IN (0, 4, 5)
  UNION ALL
  SELECT w_assign(i, 0, 'Cid' || i, 'C', 'c' || i || '@example.com')
    FROM generate_series(1, 240) i WHERE i % 12 = 4
  UNION ALL
  SELECT w_assign(i, 1, 'Robert' || i, 'B', 'b' || i || '@example.com')
    FROM generate_series(1, 240) i WHERE i % 12 = 5
  UNION ALL
  SELECT (cqrs.send('UnassignSeat', jsonb_build_object(
           'seatAssignmentsId', cqrs.derived_stream_id('SeatAssignments', w_id('order', i)),
           'position', 0))).status
    FROM generate_series(1, 240) i WHERE i % 24 = 3) x GROUP BY 1;
SELECT w_drain();
-- the rest expire (their process manager's timer fires)
SELECT w_drain(now() + interval '30 minutes');
-- the scarce seats are taken by new orders, then payments complete after
-- expiry: general seats are had again (7: confirmed after all), workshop
-- seats are not (8: the order needs attention)
SELECT status, count(*) FROM (
  SELECT w_register(i, 'conf', jsonb_build_array(w_seat('workshop', 4))) AS status
    FROM generate_series(1001, 1015) i) x GROUP BY 1;
SELECT w_drain();
SELECT status, count(*) FROM (
  SELECT w_pay(i, 1) AS status FROM generate_series(1, 240) i WHERE i % 12 IN (7, 8)) x
 GROUP BY 1;
SELECT w_drain();
SELECT w_assign(i, 0, 'Late' || i, 'L', 'l' || i || '@example.com') AS status, count(*)
  FROM generate_series(1, 240) i WHERE i % 12 = 7 GROUP BY 1;
-- orders placed while the process manager is stopped stay pending
SELECT cqrs.stop_projection('registration_process_manager');
SELECT status, count(*) FROM (
  SELECT w_register(i, 'conf', jsonb_build_array(w_seat('general', 1))) AS status
    FROM generate_series(2001, 2010) i) x GROUP BY 1;
SELECT w_drain();

-- Then: the workload covers every state
SELECT state, count(*) FROM conference.draft_orders GROUP BY 1 ORDER BY 1;
SELECT status, count(*) FROM conference.management_orders GROUP BY 1 ORDER BY 1;
SELECT count(*) AS expired_priced, (SELECT count(*) FROM conference.management_orders_expired)
       AS expired_managed
  FROM conference.priced_orders_expired;
SELECT is_free_of_charge, reservation_expiration IS NULL AS completed, count(*)
  FROM conference.priced_orders GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(DISTINCT description) AS line_names, count(*) AS lines
  FROM conference.priced_order_lines;
SELECT email IS NOT NULL AS assigned, count(*) FROM conference.seat_assignments_view
 GROUP BY 1 ORDER BY 1;
SELECT count(*) AS attendee_rows FROM conference.management_order_seats;
SELECT count(*) AS events, count(DISTINCT event_type) AS event_types FROM cqrs.events;

-- verify: the bulk prefix (up to the live checkpoint) plus the handler,
-- and the handler alone, find no difference in any projection with tables
SELECT p.name, p.bulk_loader IS NOT NULL AS has_loader,
       (SELECT count(*) FROM cqrs.verify_projection(p.name)) AS bulk_differences,
       (SELECT count(*) FROM cqrs.verify_projection(p.name, bulk => false)) AS handler_differences
  FROM cqrs.projections p WHERE p.tables IS NOT NULL ORDER BY p.name;

-- a bulk rebuild in the background: the copy is loaded up to the
-- sequencer's position before the call returns
SELECT p.name, cqrs.rebuild_projection(p.name, wait => false) > 0 AS loaded
  FROM cqrs.projections p WHERE p.bulk_loader IS NOT NULL ORDER BY p.name;
SELECT s.name, s.state, s.position = q.last_position AS at_end,
       s.bulk_position = s.position AS by_bulk, s.applied_events > 0 AS counted
  FROM cqrs.projection_status s, cqrs.sequencer_state q
 WHERE s.rebuild_of IS NOT NULL ORDER BY s.name;
-- rows of the copies equal the live rows (the drain swaps them in)
CREATE TEMP VIEW after_swap AS
SELECT 'draft' AS t, to_jsonb(x) AS r FROM conference.draft_orders x
UNION ALL SELECT 'items', to_jsonb(x) FROM conference.draft_order_items x
UNION ALL SELECT 'priced', to_jsonb(x) FROM conference.priced_orders x
UNION ALL SELECT 'lines', to_jsonb(x) FROM conference.priced_order_lines x
UNION ALL SELECT 'priced_expired', to_jsonb(x) FROM conference.priced_orders_expired x
UNION ALL SELECT 'lines_expired', to_jsonb(x) FROM conference.priced_order_lines_expired x
UNION ALL SELECT 'seats', to_jsonb(x) FROM conference.seat_assignments_view x
UNION ALL SELECT 'mgmt', to_jsonb(x) FROM conference.management_orders x
UNION ALL SELECT 'mgmt_seats', to_jsonb(x) FROM conference.management_order_seats x
UNION ALL SELECT 'mgmt_expired', to_jsonb(x) FROM conference.management_orders_expired x
UNION ALL SELECT 'seat_types', to_jsonb(x) FROM conference.seat_type_view x;
CREATE TEMP TABLE before_swap AS SELECT * FROM after_swap;
SELECT w_drain();
SELECT count(*) AS rebuilds_left FROM cqrs.projections WHERE rebuild_of IS NOT NULL;
SELECT (SELECT count(*) FROM (SELECT * FROM before_swap EXCEPT ALL SELECT * FROM after_swap) a)
     + (SELECT count(*) FROM (SELECT * FROM after_swap EXCEPT ALL SELECT * FROM before_swap) b)
       AS changed,
       (SELECT count(*) FROM before_swap) AS rows_compared;
SELECT name, state, last_rebuilt_at IS NOT NULL AS rebuilt, lag_events
  FROM cqrs.projection_status WHERE bulk_loader IS NOT NULL ORDER BY name;

-- an event the management_orders loader does not cover (a second
-- SeatAssignmentsCreated for an order) ends its prefix there; the handler
-- replays from it, and the result still equals the live model
SELECT cqrs.append(w_id('assignments-again', 3), 'SeatAssignments', -1, jsonb_build_array(
  jsonb_build_object('type', 'SeatAssignmentsCreated', 'data', jsonb_build_object(
    'orderId', w_id('order', 3), 'seats', jsonb_build_array(
      jsonb_build_object('position', 0, 'seatType', w_id('general', 0)))))));
SELECT cqrs.append(w_id('assignments-again', 3), 'SeatAssignments', 0, jsonb_build_array(
  jsonb_build_object('type', 'SeatAssigned', 'data', jsonb_build_object('position', 0,
    'seatType', w_id('general', 0), 'attendee', jsonb_build_object('firstName', 'New',
    'lastName', 'Stream', 'email', 'new@example.com')))));
SELECT w_drain();
SELECT assignments_id = w_id('assignments-again', 3) AS switched, assignments_version
  FROM conference.management_orders WHERE order_id = w_id('order', 3);
SELECT cqrs.rebuild_projection('management_orders', wait => false) > 0 AS loaded;
SELECT s.bulk_position < q.last_position AS prefix_stopped_early,
       (SELECT e.event_type FROM cqrs.events e WHERE e.global_position = s.bulk_position + 1)
           AS next_event
  FROM cqrs.projection_status s, cqrs.sequencer_state q
 WHERE s.name = 'management_orders:rebuild';
SELECT w_drain();
SELECT count(*) AS differences FROM cqrs.verify_projection('management_orders');
SELECT count(*) AS handler_differences FROM cqrs.verify_projection('management_orders', false);

-- a loader that fails leaves the copy empty, with a warning, and the
-- handler replays everything
CREATE FUNCTION public.broken_loader(up_to bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO draft_order_items VALUES (gen_random_uuid(), gen_random_uuid(), 1, 1);
    RETURN up_to / 0;
END
$$;
UPDATE cqrs.projections SET bulk_loader = 'public.broken_loader(bigint)'
 WHERE name = 'draft_orders';
SELECT cqrs.rebuild_projection('draft_orders') > 0 AS rebuilt;
SELECT count(*) AS differences FROM cqrs.verify_projection('draft_orders');
-- (the swap re-pointed this session's temporary view at the new tables)
SELECT count(*) > 0 AS temp_view_reads_new_tables
  FROM pg_depend d JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
 WHERE r.ev_class = 'pg_temp.after_swap'::regclass
   AND d.refobjid = 'conference.draft_orders'::regclass;
SELECT count(*) > 0 AS rows FROM after_swap;
UPDATE cqrs.projections SET bulk_loader = 'conference.bulk_load_draft_orders(bigint)'
 WHERE name = 'draft_orders';

-- loaders of the wrong shape are refused
SELECT cqrs.register_projection('x', 'conference.project_draft_orders(cqrs.event)',
       schema_name => 'conference', tables => ARRAY['draft_orders'],
       bulk_loader => 'abs(integer)');
SELECT cqrs.register_projection('x', 'conference.project_draft_orders(cqrs.event)',
       bulk_loader => 'conference.bulk_load_draft_orders(bigint)');
CREATE FUNCTION public.pinned_loader(up_to bigint) RETURNS bigint LANGUAGE sql
  SET search_path = conference AS $$ SELECT up_to $$;
SELECT cqrs.register_projection('x', 'conference.project_draft_orders(cqrs.event)',
       schema_name => 'conference', tables => ARRAY['draft_orders'],
       bulk_loader => 'public.pinned_loader(bigint)');

\c :orig_db
DROP DATABASE cqrs_rm_bulk;
