-- Are the numbers right?  Every projection is compared with a fresh rebuild
-- from the log (cqrs.verify_projection), and the read models are checked
-- against each other, against the aggregates folded from the event store,
-- and against what the registrants themselves recorded.  Any failure ends
-- this script with an error, so scripts/demo.sh exits non-zero.
\pset footer off
\set ON_ERROR_STOP on
\set QUIET on
SET client_min_messages = warning;

-- (a timeout shows as a failed check below: projections not current)
SELECT cqrs.wait_for_projections('30 s') AS projections_current \gset

-- 1. Each read-model projection against its rebuild from the log.
CREATE TEMP TABLE verification AS
SELECT p.name, v.table_name, v.difference, v.row_data
  FROM cqrs.projections p
  LEFT JOIN LATERAL cqrs.verify_projection(p.name) v ON true
 WHERE p.rebuild_of IS NULL AND cardinality(p.tables) > 0;

SELECT p.name AS projection,
       CASE WHEN cardinality(p.tables) > 0 THEN array_to_string(p.tables, ', ')
            ELSE '(reactor: sends commands, no read-model tables)' END AS tables,
       s.state, s.lag_events,
       CASE WHEN cardinality(p.tables) > 0
            THEN (SELECT count(v.difference) FROM verification v WHERE v.name = p.name)::text
            ELSE 'n/a: checked below' END AS differences_from_rebuild
  FROM cqrs.projections p JOIN cqrs.projection_status s USING (name)
 WHERE p.rebuild_of IS NULL ORDER BY cardinality(p.tables) > 0 DESC, p.name;

-- the first differences, if any
SELECT count(*) > 0 AS any_difference FROM verification WHERE difference IS NOT NULL \gset
\if :any_difference
    SELECT name, table_name, difference, row_data
      FROM verification WHERE difference IS NOT NULL ORDER BY name, table_name LIMIT 20;
\endif

-- 2. Invariants: expected against actual.
CREATE TEMP TABLE checks (
    seq serial, area text, what text, expected text, actual text,
    ok boolean GENERATED ALWAYS AS (expected IS NOT DISTINCT FROM actual) STORED);

CREATE TEMP VIEW seat_facts AS
SELECT s.seat_type_id, s.seat_type_name AS seat, s.quota, s.reserved, s.sold, s.available,
       s.revenue, v.available_quantity,
       (SELECT (r->>'quantity')::bigint
          FROM jsonb_array_elements(cqrs.load(cqrs.derived_stream_id('SeatsAvailability',
                   demo.conference_id()))->'state'->'remainingSeats') r
         WHERE (r->>'seatType')::uuid = s.seat_type_id) AS aggregate_remaining,
       (SELECT sum(CASE WHEN s.seat_type_id = demo.pass_id() THEN g.reserved_pass
                        ELSE g.reserved_workshop END)
          FROM demo.registrants g WHERE g.outcome IN ('paid', 'free')) AS journal_sold
  FROM conference.sales_summary s
  JOIN conference.seat_type_view v ON v.id = s.seat_type_id
 WHERE s.conference_id = demo.conference_id();

INSERT INTO checks (area, what, expected, actual)
-- seats
SELECT 'seats', seat || ': sold within the quota', 'true', (sold <= quota)::text
  FROM seat_facts
UNION ALL
SELECT 'seats', seat || ': sold + available = quota', quota::text, (sold + available)::text
  FROM seat_facts
UNION ALL
SELECT 'seats', seat || ': none held after expiry', '0', reserved::text FROM seat_facts
UNION ALL
SELECT 'seats', seat || ': read model = SeatsAvailability aggregate',
       aggregate_remaining::text, available_quantity::text FROM seat_facts
UNION ALL
SELECT 'seats', seat || ': sold = seats of paid and free registrants',
       journal_sold::text, sold::text FROM seat_facts
UNION ALL
SELECT 'seats', 'SeatsAvailability: no pending reservation left', '0',
       jsonb_array_length(cqrs.load(cqrs.derived_stream_id('SeatsAvailability',
           demo.conference_id()))->'state'->'pendingReservations')::text
-- orders
UNION ALL
SELECT 'orders', 'orders placed = registrants', (SELECT registrants::text FROM demo.scenario),
       (SELECT count(*)::text FROM conference.draft_orders WHERE conference_id = demo.conference_id())
UNION ALL
SELECT 'orders', 'registrants who finished their visit', (SELECT registrants::text FROM demo.scenario),
       (SELECT count(*)::text FROM demo.registrants)
UNION ALL
SELECT 'orders', 'orders_per_day: placed, confirmed, expired, open, seats sold',
       (SELECT format('%s, %s, %s, 0, %s', count(*), count(*) FILTER (WHERE outcome IN ('paid', 'free')),
                      count(*) FILTER (WHERE outcome NOT IN ('paid', 'free')),
                      (SELECT sum(sold) FROM seat_facts))
          FROM demo.registrants),
       (SELECT format('%s, %s, %s, %s, %s', sum(orders_placed), sum(orders_confirmed),
                      sum(orders_expired), sum(orders_open), sum(seats_sold))
          FROM conference.orders_per_day WHERE conference_id = demo.conference_id())
UNION ALL
SELECT 'orders', 'orders still open after expiry', '0',
       (SELECT count(*)::text FROM conference.draft_orders
         WHERE conference_id = demo.conference_id() AND state NOT IN ('confirmed', 'expired'))
UNION ALL
SELECT 'orders', 'confirmed = paid and free registrants, expired = the others', '0',
       (SELECT count(*)::text FROM demo.registrants g JOIN conference.draft_orders d USING (order_id)
         WHERE d.state <> CASE WHEN g.outcome IN ('paid', 'free') THEN 'confirmed' ELSE 'expired' END)
UNION ALL
SELECT 'orders', 'seats reserved as the registrants saw them', '0',
       (SELECT count(*)::text FROM demo.registrants g,
               LATERAL (SELECT coalesce(sum(i.reserved_seats) FILTER (
                                   WHERE i.seat_type = demo.pass_id()), 0) AS pass,
                               coalesce(sum(i.reserved_seats) FILTER (
                                   WHERE i.seat_type = demo.workshop_id()), 0) AS workshop
                          FROM conference.draft_order_items i WHERE i.order_id = g.order_id) r
         WHERE (g.reserved_pass, g.reserved_workshop) IS DISTINCT FROM (r.pass, r.workshop))
UNION ALL
SELECT 'orders', 'Order aggregates (cqrs.load) in the read model''s state', '0',
       (SELECT count(*)::text FROM conference.draft_orders d
         WHERE d.conference_id = demo.conference_id()
           AND cqrs.load(d.order_id)->'state'->>'status' IS DISTINCT FROM d.state)
UNION ALL
SELECT 'orders', 'zero-cost orders confirmed without a payment', '0',
       (SELECT count(*)::text FROM demo.registrants g
         WHERE g.outcome = 'free'
           AND (g.total <> 0 OR EXISTS (SELECT 1 FROM conference.payments p
                                         WHERE p.payment_source_id = g.order_id)))
-- money
UNION ALL
SELECT 'money', 'revenue (sales_summary) = completed payments',
       (SELECT sum(total_amount)::text FROM conference.payment_details_view WHERE state = 'completed'),
       (SELECT sum(revenue)::text FROM seat_facts)
UNION ALL
SELECT 'money', 'revenue = totals of the paying registrants',
       (SELECT sum(total)::text FROM demo.registrants WHERE outcome = 'paid'),
       (SELECT sum(revenue)::text FROM seat_facts)
UNION ALL
SELECT 'money', 'revenue = paid orders of the business customer',
       (SELECT sum(total_amount)::text FROM conference.management_orders
         WHERE conference_id = demo.conference_id() AND status = 'paid'),
       (SELECT sum(revenue)::text FROM seat_facts)
UNION ALL
SELECT 'money', 'revenue = orders_per_day revenue',
       (SELECT sum(revenue)::text FROM seat_facts),
       (SELECT sum(revenue)::text FROM conference.orders_per_day
         WHERE conference_id = demo.conference_id())
UNION ALL
SELECT 'money', 'completed payments = paying registrants',
       (SELECT count(*)::text FROM demo.registrants WHERE outcome = 'paid'),
       (SELECT count(*)::text FROM conference.payment_details_view WHERE state = 'completed')
UNION ALL
SELECT 'money', 'declined payments = registrants declined',
       (SELECT count(*)::text FROM demo.registrants WHERE outcome = 'payment_declined'),
       (SELECT count(*)::text FROM conference.payment_details_view WHERE state = 'rejected')
UNION ALL
SELECT 'money', 'each payment = its priced order''s total', '0',
       (SELECT count(*)::text FROM conference.payment_details_view p
          LEFT JOIN conference.priced_orders o USING (order_id)
         WHERE p.state = 'completed' AND o.total IS DISTINCT FROM p.total_amount)
UNION ALL
SELECT 'money', 'no order needs attention', '0',
       (SELECT count(*)::text FROM conference.management_orders WHERE status = 'needs_attention')
-- attendees
UNION ALL
SELECT 'attendees', 'one assignable seat per seat sold',
       (SELECT sum(sold)::text FROM seat_facts),
       (SELECT count(*)::text FROM conference.seat_assignments_view a
          JOIN conference.draft_orders d USING (order_id) WHERE d.conference_id = demo.conference_id())
UNION ALL
SELECT 'attendees', 'seats named = seats the registrants named',
       (SELECT sum(seats_named)::text FROM demo.registrants),
       (SELECT count(*)::text FROM conference.seat_assignments_view a
          JOIN conference.draft_orders d USING (order_id)
         WHERE d.conference_id = demo.conference_id() AND a.email IS NOT NULL)
UNION ALL
SELECT 'attendees', 'attendees on the business customer''s page',
       (SELECT sum(seats_named)::text FROM demo.registrants),
       (SELECT count(*)::text FROM conference.management_order_seats s
          JOIN conference.management_orders m USING (order_id)
         WHERE m.conference_id = demo.conference_id())
-- worker
UNION ALL
SELECT 'worker', 'registration processes completed', (SELECT registrants::text FROM demo.scenario),
       (SELECT count(*)::text FROM conference.registration_processes
         WHERE conference_id = demo.conference_id() AND completed)
UNION ALL
SELECT 'worker', 'process manager warnings', '0',
       (SELECT count(*)::text FROM conference.registration_processes WHERE last_warning IS NOT NULL)
UNION ALL
SELECT 'worker', 'announced seat quantities = quotas', '0',
       (SELECT count(*)::text FROM conference.seat_types t
          LEFT JOIN conference.seat_availability_quantities q ON q.seat_type_id = t.id
         WHERE q.quantity IS DISTINCT FROM t.quantity)
UNION ALL
SELECT 'worker', 'commands pending', '0',
       (SELECT count(*)::text FROM cqrs.commands WHERE status = 'pending')
UNION ALL
SELECT 'worker', 'commands rejected (the expired ConfirmOrder above)', 'ConfirmOrder: 1',
       (SELECT coalesce(string_agg(command_type || ': ' || n, ', ' ORDER BY command_type), 'none')
          FROM (SELECT command_type, count(*) AS n FROM cqrs.commands
                 WHERE status = 'rejected' GROUP BY 1) c)
UNION ALL
SELECT 'worker', 'projections running and current', (SELECT count(*)::text FROM cqrs.projections
                                                      WHERE rebuild_of IS NULL),
       (SELECT count(*)::text FROM cqrs.projection_status
         WHERE rebuild_of IS NULL AND state = 'running' AND lag_events = 0)
UNION ALL
SELECT 'worker', 'projections equal to their rebuild', '0',
       (SELECT count(*)::text FROM verification WHERE difference IS NOT NULL)
UNION ALL
SELECT 'worker', 'the same background worker throughout (pid)', :'worker_pid',
       coalesce(cqrs.worker_pid()::text, 'none')
UNION ALL
SELECT 'store', 'global positions dense (1..n, none missing)',
       (SELECT count(*)::text FROM cqrs.events),
       (SELECT max(global_position)::text FROM cqrs.events);

SELECT area, what, expected, actual, CASE WHEN ok THEN 'ok' ELSE 'FAILED' END AS result
  FROM checks ORDER BY seq;

SELECT count(*) FILTER (WHERE NOT ok) AS failed, count(*) AS checks,
       count(*) FILTER (WHERE NOT ok) > 0 AS any_failed FROM checks \gset
\echo
\if :any_failed
    -- stop with an error: psql exits non-zero (ON_ERROR_STOP), so does the demo
    SELECT demo.fail(format('%s of %s checks FAILED (see above)', :failed, :checks));
\else
    \echo 'all' :checks 'checks passed; every read model equals its rebuild from the log'
\endif
