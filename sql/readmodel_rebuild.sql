-- cqrs.rebuild_projection and cqrs.verify_projection: a rebuild replays the
-- log into shadow tables and swaps them in; the result equals the live
-- model; grants, extension membership and the views that read the tables
-- carry over; a background rebuild shows its progress; verify reports an
-- injected difference; a poison event stops a rebuild without harm.
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS cqrs_rm_rebuild;
CREATE DATABASE cqrs_rm_rebuild;
\c cqrs_rm_rebuild
SET client_min_messages = warning;
CREATE EXTENSION cqrs_conf;
DROP ROLE IF EXISTS regress_rm_analyst;
CREATE ROLE regress_rm_analyst;
RESET client_min_messages;
UPDATE cqrs.projections SET state = 'stopped'
 WHERE name NOT IN ('conference_view', 'seat_type_view', 'draft_orders', 'priced_orders',
                    'seat_assignments_view', 'management_orders');
GRANT USAGE ON SCHEMA conference TO regress_rm_analyst;
GRANT SELECT ON conference.draft_orders, conference.draft_order_items,
                conference.sales_summary TO regress_rm_analyst;

CREATE FUNCTION ev(t text, d jsonb) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT jsonb_build_object('type', t, 'data', d) $$;

-- Given: a conference, a seat type, 20 orders in various states
SELECT cqrs.append('c0000000-0000-4000-8000-000000000001', 'Conference', -1, jsonb_build_array(
  ev('ConferenceCreated', '{"conferenceId": "c0000000-0000-4000-8000-000000000001", "name": "Summit",
     "description": "d", "location": "l", "slug": "summit", "tagline": null, "twitterSearch": null,
     "startDate": "2030-05-01", "endDate": "2030-05-02", "owner": {"name": "O", "email": "o@x.com"}}')));
SELECT cqrs.append('a0000000-0000-4000-8000-00000000000a', 'SeatType', -1, jsonb_build_array(
  ev('SeatCreated', '{"seatTypeId": "a0000000-0000-4000-8000-00000000000a",
     "conferenceId": "c0000000-0000-4000-8000-000000000001", "name": "General",
     "description": "g", "price": 10.00, "quantity": 100}')));
SELECT count(*) AS orders FROM (
  SELECT cqrs.append(format('01000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid, 'Order', -1,
    jsonb_build_array(
      ev('OrderPlaced', jsonb_build_object('conferenceId', 'c0000000-0000-4000-8000-000000000001',
         'seats', jsonb_build_array(jsonb_build_object('seatType', 'a0000000-0000-4000-8000-00000000000a',
                                                       'quantity', i % 4 + 1)),
         'reservationAutoExpiration', '2030-04-01T10:15:00Z', 'accessCode', 'CODE' || i)),
      ev('OrderTotalsCalculated', jsonb_build_object('total', (i % 4 + 1) * 10, 'isFreeOfCharge', false,
         'lines', jsonb_build_array(jsonb_build_object('seatType', 'a0000000-0000-4000-8000-00000000000a',
            'unitPrice', 10.00, 'quantity', i % 4 + 1, 'lineTotal', (i % 4 + 1) * 10)))),
      ev('OrderReservationCompleted', jsonb_build_object('reservationExpiration', '2030-04-01T10:20:00Z',
         'seats', jsonb_build_array(jsonb_build_object('seatType', 'a0000000-0000-4000-8000-00000000000a',
                                                       'quantity', i % 4 + 1)))))
    || CASE i % 3 WHEN 0 THEN jsonb_build_array(ev('OrderConfirmed', '{}'))
                  WHEN 1 THEN jsonb_build_array(ev('OrderExpired', '{}'))
                  ELSE '[]' END)
    FROM generate_series(1, 20) i) x;
SELECT cqrs.drain() > 0 AS drained;

-- (before the differences are injected below)
CREATE TEMP TABLE live_before AS
SELECT to_jsonb(o) AS r FROM conference.draft_orders o
UNION ALL SELECT to_jsonb(i) FROM conference.draft_order_items i;
SELECT 'conference.draft_orders'::regclass::oid AS old_oid \gset
SELECT state, count(*) FROM conference.draft_orders GROUP BY 1 ORDER BY 1;

-- verify: the live model equals a fresh rebuild (no rows)
SELECT * FROM cqrs.verify_projection('draft_orders');

-- inject differences into the live model: verify reports them
UPDATE conference.draft_orders SET state = 'rejected'
 WHERE order_id = '01000000-0000-4000-8000-000000000003';
DELETE FROM conference.draft_order_items WHERE order_id = '01000000-0000-4000-8000-000000000005';
SELECT table_name, difference, row_data->>'order_id' AS order_id,
       coalesce(row_data->>'state', row_data->>'requested_seats') AS state_or_seats
  FROM cqrs.verify_projection('draft_orders');

-- rebuild (in this transaction): replays the log, swaps, repairs the model
SELECT cqrs.rebuild_projection('draft_orders') > 0 AS replayed;
SELECT count(*) AS differences FROM cqrs.verify_projection('draft_orders');
-- the swapped-in tables keep the storage parameters (fillfactor)
SELECT relname, reloptions FROM pg_class
 WHERE oid IN ('conference.draft_orders'::regclass, 'conference.draft_order_items'::regclass)
 ORDER BY relname;
CREATE TEMP VIEW live_now AS
SELECT to_jsonb(o) AS r FROM conference.draft_orders o
UNION ALL SELECT to_jsonb(i) FROM conference.draft_order_items i;
SELECT (SELECT count(*) FROM (SELECT * FROM live_before EXCEPT ALL SELECT * FROM live_now) a)
     + (SELECT count(*) FROM (SELECT * FROM live_now EXCEPT ALL SELECT * FROM live_before) b)
       AS changed;
-- new tables, with the old one's grants, extension membership and views
SELECT 'conference.draft_orders'::regclass::oid <> :old_oid AS new_table;
SELECT has_table_privilege('regress_rm_analyst', 'conference.draft_orders', 'SELECT') AS analyst_reads,
       has_table_privilege('regress_rm_analyst', 'conference.draft_orders', 'INSERT') AS analyst_writes;
SELECT count(*) AS member_tables
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'cqrs_conf'
 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
   AND d.objid IN ('conference.draft_orders'::regclass, 'conference.draft_order_items'::regclass);
SELECT seat_type_name, reserved, sold, revenue FROM conference.sales_summary;
SELECT orders_placed, orders_confirmed, orders_expired FROM conference.orders_per_day;
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'cqrs\_rebuild%' OR nspname LIKE 'cqrs\_verify%';
SELECT name, state, position = (SELECT last_position FROM cqrs.sequencer_state) AS at_end,
       last_rebuilt_at IS NOT NULL AS rebuilt
  FROM cqrs.projection_status WHERE name = 'draft_orders';

-- a rebuild in the background (here without the bulk loader): visible in
-- projection_status, replayed by the runner (here cqrs.drain) in committed
-- batches, swapped when caught up
SELECT cqrs.rebuild_projection('management_orders', wait => false, bulk => false);
SELECT name, state, position, rebuild_of, rebuild_percent, bulk_position
  FROM cqrs.projection_status WHERE rebuild_of IS NOT NULL;
-- a second rebuild of the same projection is refused while it runs
SELECT cqrs.rebuild_projection('management_orders', wait => false);
-- readers read the live tables meanwhile
SELECT status, count(*) FROM conference.management_orders GROUP BY 1 ORDER BY 1;
SELECT cqrs.drain() > 0 AS drained;
SELECT count(*) AS rebuilds_left FROM cqrs.projection_status WHERE rebuild_of IS NOT NULL;
SELECT status, count(*) FROM conference.management_orders GROUP BY 1 ORDER BY 1;
SELECT name, state, last_rebuilt_at IS NOT NULL AS rebuilt FROM cqrs.projection_status
 WHERE name = 'management_orders';
SELECT count(*) AS differences FROM cqrs.verify_projection('management_orders');
-- with the bulk loader (the default), the copy is loaded up to the end
-- of the log before the call returns; the runner replays what follows
SELECT cqrs.rebuild_projection('management_orders', wait => false) AS loaded;
SELECT name, state, position, rebuild_percent, bulk_position
  FROM cqrs.projection_status WHERE rebuild_of IS NOT NULL;
SELECT cqrs.append('01000000-0000-4000-8000-000000000002', 'Order', NULL, jsonb_build_array(
  ev('OrderRegistrantAssigned', '{"firstName": "Late", "lastName": "Comer", "email": "l@x.com"}')));
SELECT cqrs.drain() > 0 AS drained;
SELECT count(*) AS rebuilds_left FROM cqrs.projection_status WHERE rebuild_of IS NOT NULL;
SELECT registrant_name FROM conference.management_orders
 WHERE order_id = '01000000-0000-4000-8000-000000000002';
SELECT count(*) AS differences FROM cqrs.verify_projection('management_orders');
-- cancelling a background rebuild drops its copy
SELECT cqrs.rebuild_projection('priced_orders', wait => false) > 0 AS loaded;
SELECT cqrs.cancel_rebuild('priced_orders');
SELECT count(*) AS rebuilds_left FROM cqrs.projection_status WHERE rebuild_of IS NOT NULL;

-- refusals
SELECT cqrs.rebuild_projection('no_such_projection');
SELECT cqrs.register_projection('plain', 'conference.project_draft_orders(cqrs.event)', ARRAY['None']);
SELECT cqrs.rebuild_projection('plain');

-- a poison event: conference_view stops; its rebuild meets the same event
-- and stops with the error, leaving the live model and checkpoint as they were
SELECT cqrs.append('c0000000-0000-4000-8000-000000000002', 'Conference', -1,
  '[{"type": "ConferencePublished", "data": {"conferenceId": "c0000000-0000-4000-8000-000000000002"}}]');
SELECT cqrs.drain() >= 0 AS drained;
SELECT name, state, last_error_sqlstate FROM cqrs.projection_status WHERE name = 'conference_view';
SELECT cqrs.rebuild_projection('conference_view');
SELECT name, state FROM cqrs.projection_status WHERE name LIKE 'conference_view%';
SELECT count(*) AS conferences FROM conference.conference_view;

\c :orig_db
DROP DATABASE cqrs_rm_rebuild;
DROP ROLE regress_rm_analyst;
