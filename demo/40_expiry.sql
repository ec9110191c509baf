-- Half an hour later.  Registrants who walked away, whose card was declined
-- or who found the seats sold out still have open orders; the seats of the
-- first two kinds are held.  Each order's process manager scheduled an
-- ExpireRegistrationProcess command when the order was placed, due at the
-- reservation's expiry (15 minutes) + the process manager's buffer (14
-- minutes): cqrs_conf.reservation_window and cqrs_conf.pm_expiration_buffer.
-- Instead of waiting 29 minutes, cqrs.drain(as_of) runs the worker's steps
-- in this session with the clock moved forward (docs/worker.md), so the
-- timers fire now.
\pset footer off

-- Open orders and the seats they hold (the read model; an order that got
-- nothing is partially_reserved with no seats, as in the reference).
SELECT d.state, o.seats > 0 AS holds_seats, count(*) AS orders, sum(o.seats) AS seats_held
  FROM conference.draft_orders d,
       LATERAL (SELECT sum(i.reserved_seats) AS seats FROM conference.draft_order_items i
                 WHERE i.order_id = d.order_id) o
 WHERE d.conference_id = demo.conference_id() AND d.state NOT IN ('confirmed', 'expired')
 GROUP BY 1, 2 ORDER BY 1, 2;

SELECT name, quantity, available_quantity
  FROM conference.seat_type_view WHERE conference_id = demo.conference_id() ORDER BY price DESC;

-- The timers: pending scheduled commands and when they fall due (one per
-- order; those of confirmed orders will find their process completed).
SELECT command_type, count(*) AS pending,
       date_trunc('second', min(due_at) - now()) AS first_due_in,
       date_trunc('second', max(due_at) - now()) AS last_due_in
  FROM cqrs.commands WHERE status = 'pending' GROUP BY command_type;

-- Fire them: ExpireRegistrationProcess -> RejectOrder (OrderExpired) and
-- CancelSeatReservation (SeatsReservationCancelled gives the seats back).
SELECT clock_timestamp() AS before_expiry \gset
SELECT cqrs.drain(as_of => now() + interval '30 minutes') AS items_processed;
SELECT cqrs.wait_for_projections('30 s') AS projections_current;

-- What the timers did: the commands handled since.
SELECT command_type, status, count(*) AS commands
  FROM cqrs.commands WHERE handled_at >= :'before_expiry'
 GROUP BY 1, 2 ORDER BY 1, 2;

SELECT d.state, count(*) AS orders
  FROM conference.draft_orders d WHERE d.conference_id = demo.conference_id()
 GROUP BY d.state ORDER BY d.state;
SELECT name, quantity, available_quantity
  FROM conference.seat_type_view WHERE conference_id = demo.conference_id() ORDER BY price DESC;

-- A registrant whose order expired comes back and tries to confirm it: a
-- business rejection, recorded in the command log (a retry gets the same
-- answer) and no event written.
SELECT r.status, r.reason, r.events
  FROM demo.registrants g,
       cqrs.send('ConfirmOrder', jsonb_build_object('orderId', g.order_id)) r
 WHERE g.n = (SELECT min(n) FROM demo.registrants WHERE outcome = 'walked_away');
