-- Views for analysts over the read models (docs/analytics.md).  They are
-- plain views: a rebuild that swaps a read model's tables re-points them
-- (75_rebuild.sql), so they never need to be re-created by hand.

-- Per conference and seat type: the quota, the seats held by orders being
-- reserved, the seats sold (confirmed orders), the seats available now, and
-- the revenue of the confirmed orders.
CREATE VIEW conference.sales_summary AS
SELECT s.conference_id,
       c.slug AS conference_slug,
       c.name AS conference_name,
       s.id AS seat_type_id,
       s.name AS seat_type_name,
       s.price,
       s.quantity AS quota,
       coalesce(h.reserved, 0)::bigint AS reserved,
       coalesce(h.sold, 0)::bigint AS sold,
       s.available_quantity AS available,
       coalesce(r.revenue, 0)::numeric(18,2) AS revenue
  FROM conference.seat_type_view s
  LEFT JOIN conference.conference_view c ON c.id = s.conference_id
  LEFT JOIN LATERAL (
        SELECT sum(i.reserved_seats) FILTER (
                   WHERE o.state IN ('partially_reserved', 'reservation_completed')) AS reserved,
               sum(i.reserved_seats) FILTER (WHERE o.state = 'confirmed') AS sold
          FROM conference.draft_order_items i
          JOIN conference.draft_orders o ON o.order_id = i.order_id
         WHERE i.seat_type = s.id AND o.conference_id = s.conference_id) h ON true
  LEFT JOIN LATERAL (
        SELECT sum(l.line_total) AS revenue
          FROM conference.priced_order_lines l
          JOIN conference.priced_orders p ON p.order_id = l.order_id
          JOIN conference.draft_orders o ON o.order_id = l.order_id
         WHERE l.seat_type = s.id AND o.state = 'confirmed'
           AND p.conference_id = s.conference_id) r ON true;

COMMENT ON VIEW conference.sales_summary IS
    'Per conference and seat type: quota, reserved (orders being reserved), sold (confirmed orders), available, revenue (confirmed orders)';

-- Orders per conference and day (UTC) of placement: placed, confirmed,
-- expired, still open, seats sold and revenue of those confirmed.
CREATE VIEW conference.orders_per_day AS
SELECT o.conference_id,
       (o.placed_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS orders_placed,
       count(*) FILTER (WHERE o.state = 'confirmed') AS orders_confirmed,
       count(*) FILTER (WHERE o.state = 'expired') AS orders_expired,
       count(*) FILTER (WHERE o.state NOT IN ('confirmed', 'expired')) AS orders_open,
       coalesce(sum(i.seats) FILTER (WHERE o.state = 'confirmed'), 0)::bigint AS seats_sold,
       coalesce(sum(p.total) FILTER (WHERE o.state = 'confirmed'), 0)::numeric(18,2) AS revenue
  FROM conference.draft_orders o
  LEFT JOIN LATERAL (SELECT sum(reserved_seats) AS seats
                       FROM conference.draft_order_items it
                      WHERE it.order_id = o.order_id) i ON true
  LEFT JOIN conference.priced_orders p ON p.order_id = o.order_id
 GROUP BY 1, 2;

COMMENT ON VIEW conference.orders_per_day IS
    'Orders per conference and UTC day of placement: placed, confirmed, expired, open, seats sold, revenue';

-- The business customer's "Orders & Attendees" page: one row per attendee
-- (or per order without attendees), with the seat type name.
CREATE VIEW conference.order_attendees AS
SELECT m.conference_id,
       m.order_id,
       m.access_code,
       m.status,
       m.total_amount,
       m.registrant_name,
       m.registrant_email,
       s.position,
       st.name AS seat_type_name,
       s.first_name,
       s.last_name,
       s.email
  FROM conference.management_orders m
  LEFT JOIN conference.management_order_seats s ON s.order_id = m.order_id
  LEFT JOIN conference.seat_type_view st ON st.id = s.seat_type;

COMMENT ON VIEW conference.order_attendees IS
    'Orders and their attendees as the business customer sees them (status pending, paid, needs_attention)';
