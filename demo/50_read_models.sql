-- What the registrants, the business customer and the analysts see: the
-- read-model tables and views, queried with plain SQL.
\pset footer off

-- Availability per seat type (the registration page).
SELECT name, price, quantity, available_quantity
  FROM conference.seat_type_view WHERE conference_id = demo.conference_id() ORDER BY price DESC;

-- Orders by state and by what the race gave them (draft orders).
SELECT d.state,
       CASE WHEN i.reserved = i.requested THEN 'all seats asked for'
            WHEN i.reserved > 0 THEN 'some (partly reserved)'
            ELSE 'none (sold out)' END AS got,
       count(*) AS orders, sum(i.requested) AS seats_requested, sum(i.reserved) AS seats_reserved
  FROM conference.draft_orders d,
       LATERAL (SELECT sum(requested_seats) AS requested, sum(reserved_seats) AS reserved
                  FROM conference.draft_order_items WHERE order_id = d.order_id) i
 WHERE d.conference_id = demo.conference_id()
 GROUP BY 1, 2 ORDER BY 1, 2;

-- Sales and revenue per seat type (analysts' view over the read models).
SELECT seat_type_name, price, quota, reserved, sold, available, revenue
  FROM conference.sales_summary WHERE conference_id = demo.conference_id() ORDER BY price DESC;

-- Orders per day of placement (analysts' view).
SELECT day, orders_placed, orders_confirmed, orders_expired, orders_open, seats_sold, revenue
  FROM conference.orders_per_day WHERE conference_id = demo.conference_id() ORDER BY day;

-- Orders & Attendees page of the business customer, by status.
SELECT status, count(*) AS orders, sum(total_amount) AS total_amount
  FROM conference.management_orders WHERE conference_id = demo.conference_id()
 GROUP BY status ORDER BY status;

-- Payments (CQRS without event sourcing: a view over conference.payments).
SELECT state, count(*) AS payments, sum(total_amount) AS total_amount
  FROM conference.payment_details_view GROUP BY state ORDER BY state;

-- Attendees: a few named seats, and the seats still to be named.
SELECT a.access_code, a.registrant_name, a.position, a.seat_type_name,
       a.first_name || ' ' || a.last_name AS attendee, a.email
  FROM conference.order_attendees a
 WHERE a.conference_id = demo.conference_id() AND a.email IS NOT NULL
 ORDER BY a.registrant_name, a.position LIMIT 8;
SELECT count(*) FILTER (WHERE s.email IS NOT NULL) AS seats_named,
       count(*) FILTER (WHERE s.email IS NULL) AS seats_to_name
  FROM conference.seat_assignments_view s JOIN conference.draft_orders d USING (order_id)
 WHERE d.conference_id = demo.conference_id();

-- The registrants' side of the story (the demo's journal): how each visit ended.
SELECT outcome, count(*) AS registrants, sum(wanted_pass) AS passes_wanted,
       sum(reserved_pass) AS passes_got, sum(wanted_workshop) AS workshop_wanted,
       sum(reserved_workshop) AS workshop_got, sum(total) AS order_totals
  FROM demo.registrants GROUP BY outcome ORDER BY outcome;

-- The log behind it all.
SELECT stream_type, count(*) AS events FROM cqrs.events GROUP BY stream_type ORDER BY events DESC;
SELECT command_type, status, count(*) AS commands
  FROM cqrs.commands GROUP BY command_type, status ORDER BY command_type, status;
