-- Set-based bulk loaders for rebuilding the read models of 70_read_models.sql
-- (cqrs.projections.bulk_loader; used by cqrs.rebuild_projection and
-- cqrs.verify_projection, 75_rebuild.sql).  See docs/read-models.md.
--
-- A loader f(up_to bigint) returns bigint fills the projection's empty
-- tables, in a few INSERT ... SELECT statements over the sequenced log,
-- with exactly the rows its handler leaves after every event at positions
-- <= up_to, and returns the position it loaded up to; the handler
-- replays the rest.  Like the handler it names its tables unqualified (the
-- rebuild sets search_path to the shadow schema) and sets no search_path.
--
-- How the handlers' rules become set operations:
--   * A stream's events reach the log in version order (appends to a
--     stream serialise and positions follow commit order), so the
--     handlers' stale-version guards ("version < e.version") pass for every
--     event of the log that finds its row; what decides whether an event
--     takes effect is whether its row exists, and where it is, at that
--     moment.  Inserts that ignore an existing row keep the first event.
--   * "The last event of a kind" is the one with the highest position
--     (array_agg(... ORDER BY position DESC)[1], DISTINCT ON).
--   * Where a row moves between tables (priced_orders / management_orders
--     and their _expired tables), a window over the order's events gives
--     where the row is just before each event: the kind of the last move
--     before it.
--   * Names looked up when an event is handled (seat type names) are the
--     names of the last SeatCreated / SeatUpdated before that event.
--   * An event the set-based rules do not cover (management_orders: a
--     second SeatAssignmentsCreated for an order or a stream) ends the
--     loaded prefix just before it.  A malformed event raises here; the
--     rebuild then replays with the handler, which stops at that event.

------------------------------------------------------------------------
-- draft_orders, draft_order_items
------------------------------------------------------------------------

CREATE FUNCTION conference.bulk_load_draft_orders(up_to bigint)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    WITH ev AS MATERIALIZED (
        SELECT e.global_position AS pos, e.stream_id, e.version, e.event_type, e.data,
               e.recorded_at
          FROM cqrs.events e
         WHERE e.global_position BETWEEN 1 AND up_to
           AND e.event_type IN ('OrderPlaced', 'OrderUpdated', 'OrderPartiallyReserved',
                                'OrderReservationCompleted', 'OrderRegistrantAssigned',
                                'OrderConfirmed', 'OrderPaymentConfirmed', 'OrderExpired')),
    -- the first OrderPlaced makes the row; a later one is ignored
    placed AS MATERIALIZED (
        SELECT DISTINCT ON (stream_id) stream_id, pos, version, data, recorded_at
          FROM ev WHERE event_type = 'OrderPlaced'
         ORDER BY stream_id, pos),
    -- the events that find the row
    applied AS MATERIALIZED (
        SELECT ev.stream_id, ev.pos, ev.version, ev.event_type, ev.data, ev.recorded_at
          FROM ev JOIN placed p ON p.stream_id = ev.stream_id
         WHERE ev.pos > p.pos AND ev.event_type <> 'OrderPlaced'),
    agg AS (
        SELECT stream_id,
               max(version) AS version,
               (array_agg(event_type ORDER BY pos DESC)
                    FILTER (WHERE event_type <> 'OrderRegistrantAssigned'))[1] AS last_state,
               (array_agg(data->>'reservationExpiration' ORDER BY pos DESC)
                    FILTER (WHERE event_type IN ('OrderPartiallyReserved',
                                                 'OrderReservationCompleted')))[1] AS expiration,
               (array_agg(data->>'email' ORDER BY pos DESC)
                    FILTER (WHERE event_type = 'OrderRegistrantAssigned'))[1] AS email,
               (array_agg(recorded_at ORDER BY pos DESC)
                    FILTER (WHERE event_type IN ('OrderConfirmed',
                                                 'OrderPaymentConfirmed')))[1] AS confirmed_at,
               (array_agg(recorded_at ORDER BY pos DESC)
                    FILTER (WHERE event_type = 'OrderExpired'))[1] AS expired_at
          FROM applied GROUP BY stream_id),
    orders AS (
        INSERT INTO draft_orders (order_id, conference_id, state, reservation_expiration,
                                  registrant_email, access_code, version, placed_at,
                                  confirmed_at, expired_at)
        SELECT p.stream_id, (p.data->>'conferenceId')::uuid,
               CASE a.last_state
                    WHEN 'OrderPartiallyReserved' THEN 'partially_reserved'
                    WHEN 'OrderReservationCompleted' THEN 'reservation_completed'
                    WHEN 'OrderConfirmed' THEN 'confirmed'
                    WHEN 'OrderPaymentConfirmed' THEN 'confirmed'
                    WHEN 'OrderExpired' THEN 'expired'
                    ELSE 'pending_reservation' END,
               a.expiration::timestamptz, a.email, p.data->>'accessCode',
               coalesce(a.version, p.version), p.recorded_at, a.confirmed_at, a.expired_at
          FROM placed p LEFT JOIN agg a ON a.stream_id = p.stream_id),
    -- the items come from the last OrderPlaced / OrderUpdated that applied ...
    resets AS MATERIALIZED (
        SELECT DISTINCT ON (stream_id) stream_id, pos, seats
          FROM (SELECT stream_id, pos, data->'seats' AS seats FROM placed
                UNION ALL
                SELECT stream_id, pos, data->'seats' FROM applied
                 WHERE event_type = 'OrderUpdated') r
         ORDER BY stream_id, pos DESC),
    -- ... and their reserved seats from the last reservation event after it
    -- that lists the seat type
    reserved AS (
        SELECT DISTINCT ON (a.stream_id, s.seat_type) a.stream_id, s.seat_type, s.quantity
          FROM applied a
          JOIN resets r ON r.stream_id = a.stream_id AND a.pos > r.pos
         CROSS JOIN LATERAL conference.rm_seat_list(a.data->'seats') s
         WHERE a.event_type IN ('OrderPartiallyReserved', 'OrderReservationCompleted')
         ORDER BY a.stream_id, s.seat_type, a.pos DESC)
    INSERT INTO draft_order_items (order_id, seat_type, requested_seats, reserved_seats)
    SELECT r.stream_id, s.seat_type, s.quantity, coalesce(x.quantity, 0)
      FROM resets r
     CROSS JOIN LATERAL conference.rm_seat_list(r.seats) s
      LEFT JOIN reserved x ON x.stream_id = r.stream_id AND x.seat_type = s.seat_type;
    RETURN up_to;
END
$$;

------------------------------------------------------------------------
-- priced_orders, priced_order_lines, priced_order_seat_types,
-- priced_orders_expired, priced_order_lines_expired
------------------------------------------------------------------------

CREATE FUNCTION conference.bulk_load_priced_orders(up_to bigint)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    WITH ev AS MATERIALIZED (
        SELECT e.global_position AS pos, e.stream_id, e.version, e.event_type, e.data
          FROM cqrs.events e
         WHERE e.global_position BETWEEN 1 AND up_to
           AND e.event_type IN ('OrderPlaced', 'OrderTotalsCalculated', 'OrderConfirmed',
                                'OrderPaymentConfirmed', 'OrderExpired',
                                'SeatAssignmentsCreated', 'SeatCreated', 'SeatUpdated')),
    placed AS MATERIALIZED (
        SELECT DISTINCT ON (stream_id) stream_id, pos, version, data
          FROM ev WHERE event_type = 'OrderPlaced'
         ORDER BY stream_id, pos),
    names AS MATERIALIZED (
        SELECT stream_id AS seat_type_id, pos, data->>'name' AS name
          FROM ev WHERE event_type IN ('SeatCreated', 'SeatUpdated')),
    -- each order's events after its placement (SeatAssignmentsCreated by
    -- its orderId), with where the row is just before the event:
    -- priced_orders_expired after an OrderExpired, priced_orders after
    -- an OrderConfirmed (which brings an expired one back)
    tl AS MATERIALIZED (
        SELECT x.*,
               coalesce((max(x.move) OVER w) % 2 = 1, false) AS expired_before
          FROM (SELECT p.stream_id AS order_id, e.pos, e.version, e.event_type, e.data,
                       e.stream_id AS source,
                       CASE WHEN e.event_type = 'OrderExpired' THEN e.pos * 2 + 1
                            WHEN e.event_type IN ('OrderConfirmed', 'OrderPaymentConfirmed')
                            THEN e.pos * 2 END AS move
                  FROM ev e
                  JOIN placed p
                    ON p.stream_id = CASE WHEN e.event_type = 'SeatAssignmentsCreated'
                                          THEN (e.data->>'orderId')::uuid
                                          ELSE e.stream_id END
                 WHERE e.pos > p.pos
                   AND e.event_type NOT IN ('OrderPlaced', 'SeatCreated', 'SeatUpdated')) x
        WINDOW w AS (PARTITION BY x.order_id ORDER BY x.pos
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
    agg AS MATERIALIZED (
        SELECT order_id,
               -- totals, expiry and assignments apply to a row in priced_orders;
               -- a confirmation applies to either
               max(version) FILTER (WHERE event_type IN ('OrderConfirmed', 'OrderPaymentConfirmed')
                                       OR (event_type IN ('OrderTotalsCalculated', 'OrderExpired')
                                           AND NOT expired_before)) AS version,
               (array_agg(pos ORDER BY pos DESC)
                    FILTER (WHERE event_type = 'OrderTotalsCalculated'
                              AND NOT expired_before))[1] AS totals_pos,
               (array_agg(source ORDER BY pos DESC)
                    FILTER (WHERE event_type = 'SeatAssignmentsCreated'
                              AND NOT expired_before))[1] AS assignments_id,
               bool_or(event_type IN ('OrderConfirmed', 'OrderPaymentConfirmed')) AS confirmed,
               coalesce((max(move) % 2 = 1), false) AS expired
          FROM tl GROUP BY order_id),
    final AS MATERIALIZED (
        SELECT p.stream_id AS order_id, (p.data->>'conferenceId')::uuid AS conference_id,
               a.assignments_id,
               coalesce((t.data->>'total')::numeric, 0) AS total,
               coalesce((t.data->>'isFreeOfCharge')::boolean, false) AS is_free_of_charge,
               CASE WHEN a.confirmed THEN NULL
                    ELSE (p.data->>'reservationAutoExpiration')::timestamptz END
                   AS reservation_expiration,
               coalesce(a.version, p.version) AS version,
               coalesce(a.expired, false) AS expired,
               t.pos AS totals_pos, t.data->'lines' AS lines
          FROM placed p
          LEFT JOIN agg a ON a.order_id = p.stream_id
          LEFT JOIN tl t ON t.order_id = a.order_id AND t.pos = a.totals_pos),
    live AS (
        INSERT INTO priced_orders (order_id, conference_id, assignments_id, total,
                                   is_free_of_charge, reservation_expiration, version)
        SELECT order_id, conference_id, assignments_id, total, is_free_of_charge,
               reservation_expiration, version
          FROM final WHERE NOT expired),
    gone AS (
        INSERT INTO priced_orders_expired (order_id, conference_id, assignments_id, total,
                                           is_free_of_charge, reservation_expiration, version)
        SELECT order_id, conference_id, assignments_id, total, is_free_of_charge,
               reservation_expiration, version
          FROM final WHERE expired),
    seat_types AS (
        INSERT INTO priced_order_seat_types (seat_type_id, name)
        SELECT DISTINCT ON (seat_type_id) seat_type_id, name
          FROM names ORDER BY seat_type_id, pos DESC),
    -- the lines of the last totals, named as the seat types were named then
    lines AS (
        SELECT DISTINCT ON (f.order_id, l.n)
               f.order_id, f.expired, (l.n - 1)::integer AS position,
               (l.x->>'seatType')::uuid AS seat_type, n.name AS description,
               (l.x->>'unitPrice')::numeric AS unit_price,
               (l.x->>'quantity')::integer AS quantity,
               (l.x->>'lineTotal')::numeric AS line_total
          FROM final f
         CROSS JOIN LATERAL jsonb_array_elements(coalesce(f.lines, '[]')) WITH ORDINALITY AS l(x, n)
          LEFT JOIN names n ON n.seat_type_id = (l.x->>'seatType')::uuid AND n.pos < f.totals_pos
         WHERE f.totals_pos IS NOT NULL
         ORDER BY f.order_id, l.n, n.pos DESC NULLS LAST),
    live_lines AS (
        INSERT INTO priced_order_lines (order_id, position, seat_type, description, unit_price,
                                        quantity, line_total)
        SELECT order_id, position, seat_type, description, unit_price, quantity, line_total
          FROM lines WHERE NOT expired)
    INSERT INTO priced_order_lines_expired (order_id, position, seat_type, description,
                                            unit_price, quantity, line_total)
    SELECT order_id, position, seat_type, description, unit_price, quantity, line_total
      FROM lines WHERE expired;
    RETURN up_to;
END
$$;

------------------------------------------------------------------------
-- seat_assignments_view, seat_assignment_seat_types
------------------------------------------------------------------------

CREATE FUNCTION conference.bulk_load_seat_assignments(up_to bigint)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    WITH ev AS MATERIALIZED (
        SELECT e.global_position AS pos, e.stream_id, e.version, e.event_type, e.data
          FROM cqrs.events e
         WHERE e.global_position BETWEEN 1 AND up_to
           AND e.event_type IN ('SeatAssignmentsCreated', 'SeatAssigned', 'SeatAssignmentUpdated',
                                'SeatUnassigned', 'SeatCreated', 'SeatUpdated')),
    names AS MATERIALIZED (
        SELECT stream_id AS seat_type_id, pos, data->>'name' AS name
          FROM ev WHERE event_type IN ('SeatCreated', 'SeatUpdated')),
    -- one row per position, made by the first SeatAssignmentsCreated of
    -- the stream that lists it, with the seat type's name at that moment
    seats AS MATERIALIZED (
        SELECT DISTINCT ON (c.stream_id, c.position)
               c.stream_id, c.position, c.pos, c.version, c.order_id, c.seat_type,
               n.name AS seat_name
          FROM (SELECT e.stream_id, e.pos, e.version, (e.data->>'orderId')::uuid AS order_id,
                       (x.x->>'position')::integer AS position,
                       (x.x->>'seatType')::uuid AS seat_type, x.n
                  FROM ev e
                 CROSS JOIN LATERAL jsonb_array_elements(coalesce(e.data->'seats', '[]'))
                       WITH ORDINALITY AS x(x, n)
                 WHERE e.event_type = 'SeatAssignmentsCreated') c
          LEFT JOIN names n ON n.seat_type_id = c.seat_type AND n.pos < c.pos
         ORDER BY c.stream_id, c.position, c.pos, c.n, n.pos DESC NULLS LAST),
    -- the attendee from the last event for the position after the row exists
    attendee AS (
        SELECT DISTINCT ON (e.stream_id, (e.data->>'position')::integer)
               e.stream_id, (e.data->>'position')::integer AS position, e.version,
               e.event_type, e.data
          FROM ev e
          JOIN seats s ON s.stream_id = e.stream_id
                      AND s.position = (e.data->>'position')::integer AND s.pos < e.pos
         WHERE e.event_type IN ('SeatAssigned', 'SeatAssignmentUpdated', 'SeatUnassigned')
         ORDER BY e.stream_id, (e.data->>'position')::integer, e.pos DESC),
    seat_types AS (
        INSERT INTO seat_assignment_seat_types (seat_type_id, name)
        SELECT DISTINCT ON (seat_type_id) seat_type_id, name
          FROM names ORDER BY seat_type_id, pos DESC)
    INSERT INTO seat_assignments_view (assignments_id, order_id, position, seat_type, seat_name,
                                       first_name, last_name, email, version)
    SELECT s.stream_id, s.order_id, s.position, s.seat_type, s.seat_name,
           CASE WHEN a.event_type <> 'SeatUnassigned' THEN a.data#>>'{attendee,firstName}' END,
           CASE WHEN a.event_type <> 'SeatUnassigned' THEN a.data#>>'{attendee,lastName}' END,
           CASE WHEN a.event_type <> 'SeatUnassigned' THEN a.data#>>'{attendee,email}' END,
           coalesce(a.version, s.version)
      FROM seats s
      LEFT JOIN attendee a ON a.stream_id = s.stream_id AND a.position = s.position;
    RETURN up_to;
END
$$;

------------------------------------------------------------------------
-- management_orders, management_order_seats, management_orders_expired
------------------------------------------------------------------------

CREATE FUNCTION conference.bulk_load_management_orders(up_to bigint)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    stop_at bigint;
BEGIN
    -- Seat events reach an order through its assignments_id, which the
    -- rules below take from the order's one SeatAssignmentsCreated.  A
    -- second one (for the same order, or in the same stream) ends the
    -- prefix: the handler replays from there.
    SELECT min(pos) INTO stop_at
      FROM (SELECT e.global_position AS pos,
                   row_number() OVER (PARTITION BY e.stream_id ORDER BY e.global_position) AS in_stream,
                   row_number() OVER (PARTITION BY e.data->>'orderId' ORDER BY e.global_position) AS for_order
              FROM cqrs.events e
             WHERE e.global_position BETWEEN 1 AND up_to
               AND e.event_type = 'SeatAssignmentsCreated') s
     WHERE in_stream > 1 OR for_order > 1;
    IF stop_at IS NOT NULL THEN
        up_to := stop_at - 1;
    END IF;

    WITH ev AS MATERIALIZED (
        SELECT e.global_position AS pos, e.stream_id, e.version, e.event_type, e.data
          FROM cqrs.events e
         WHERE e.global_position BETWEEN 1 AND up_to
           AND e.event_type IN ('OrderPlaced', 'OrderRegistrantAssigned', 'OrderTotalsCalculated',
                                'OrderConfirmed', 'OrderPaymentConfirmed', 'OrderNeedsAttention',
                                'OrderExpired', 'PaymentCompleted', 'SeatAssignmentsCreated',
                                'SeatAssigned', 'SeatAssignmentUpdated', 'SeatUnassigned')),
    placed AS MATERIALIZED (
        SELECT DISTINCT ON (stream_id) stream_id, pos, version, data
          FROM ev WHERE event_type = 'OrderPlaced'
         ORDER BY stream_id, pos),
    created AS MATERIALIZED (
        SELECT e.stream_id AS assignments_id, (e.data->>'orderId')::uuid AS order_id, e.pos
          FROM ev e WHERE e.event_type = 'SeatAssignmentsCreated'),
    -- each order's events after its placement, with where its row is just
    -- before the event: management_orders_expired after an OrderExpired,
    -- management_orders after a confirmation, OrderNeedsAttention or a
    -- PaymentCompleted (which bring an expired one back)
    tl AS MATERIALIZED (
        SELECT x.*,
               coalesce((max(x.move) OVER w) % 2 = 1, false) AS expired_before
          FROM (SELECT p.stream_id AS order_id, o.pos, o.version, o.event_type, o.data,
                       o.stream_id AS source,
                       CASE WHEN o.event_type = 'OrderExpired' THEN o.pos * 2 + 1
                            WHEN o.event_type IN ('OrderConfirmed', 'OrderPaymentConfirmed',
                                                  'OrderNeedsAttention', 'PaymentCompleted')
                            THEN o.pos * 2 END AS move
                  FROM (SELECT e.*,
                               CASE WHEN e.event_type = 'PaymentCompleted'
                                    THEN (e.data->>'paymentSourceId')::uuid
                                    WHEN e.event_type = 'SeatAssignmentsCreated'
                                    THEN (e.data->>'orderId')::uuid
                                    WHEN e.event_type IN ('SeatAssigned', 'SeatAssignmentUpdated',
                                                          'SeatUnassigned')
                                    THEN c.order_id
                                    ELSE e.stream_id END AS order_id
                          FROM ev e
                          -- a seat event belongs to the order its stream was created for
                          LEFT JOIN created c
                                 ON e.event_type IN ('SeatAssigned', 'SeatAssignmentUpdated',
                                                     'SeatUnassigned')
                                AND c.assignments_id = e.stream_id AND c.pos < e.pos
                         WHERE e.event_type <> 'OrderPlaced') o
                  JOIN placed p ON p.stream_id = o.order_id
                 WHERE o.pos > p.pos) x
        WINDOW w AS (PARTITION BY x.order_id ORDER BY x.pos
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
    -- the events that take effect
    eff AS MATERIALIZED (
        SELECT t.* FROM tl t
         WHERE CASE WHEN t.event_type IN ('OrderConfirmed', 'OrderPaymentConfirmed',
                                          'OrderNeedsAttention') THEN true
                    WHEN t.event_type = 'PaymentCompleted' THEN t.expired_before
                    ELSE NOT t.expired_before END),
    assigned AS MATERIALIZED (
        SELECT order_id, source AS assignments_id FROM eff
         WHERE event_type = 'SeatAssignmentsCreated'),
    -- seat events count once the order has the stream as its assignments
    seat_ev AS MATERIALIZED (
        SELECT e.* FROM eff e JOIN assigned a ON a.order_id = e.order_id
         WHERE e.event_type IN ('SeatAssigned', 'SeatAssignmentUpdated', 'SeatUnassigned')),
    agg AS (
        SELECT order_id,
               max(version) FILTER (WHERE event_type NOT IN ('PaymentCompleted',
                   'SeatAssignmentsCreated', 'SeatAssigned', 'SeatAssignmentUpdated',
                   'SeatUnassigned')) AS version,
               (array_agg(CASE WHEN event_type IN ('OrderConfirmed', 'OrderPaymentConfirmed')
                               THEN 'paid' ELSE 'needs_attention' END ORDER BY pos DESC)
                    FILTER (WHERE event_type IN ('OrderConfirmed', 'OrderPaymentConfirmed',
                                                 'OrderNeedsAttention', 'PaymentCompleted')))[1]
                   AS status,
               (array_agg(data ORDER BY pos DESC)
                    FILTER (WHERE event_type = 'OrderRegistrantAssigned'))[1] AS registrant,
               (array_agg(data->>'total' ORDER BY pos DESC)
                    FILTER (WHERE event_type = 'OrderTotalsCalculated'))[1] AS total
          FROM eff GROUP BY order_id),
    seat_versions AS (
        SELECT order_id, max(version) AS assignments_version FROM seat_ev GROUP BY order_id),
    -- where each row ends: the last move
    moved AS (
        SELECT DISTINCT ON (order_id) order_id, event_type = 'OrderExpired' AS expired
          FROM tl WHERE move IS NOT NULL
         ORDER BY order_id, pos DESC),
    final AS MATERIALIZED (
        SELECT p.stream_id AS order_id, (p.data->>'conferenceId')::uuid AS conference_id,
               s.assignments_id, p.data->>'accessCode' AS access_code,
               concat_ws(', ', a.registrant->>'lastName', a.registrant->>'firstName')
                   AS registrant_name,
               a.registrant IS NOT NULL AS has_registrant,
               a.registrant->>'email' AS registrant_email,
               coalesce(a.total::numeric, 0) AS total_amount,
               coalesce(a.status, 'pending') AS status,
               coalesce(a.version, p.version) AS version,
               coalesce(v.assignments_version, -1) AS assignments_version,
               coalesce(m.expired, false) AS expired
          FROM placed p
          LEFT JOIN agg a ON a.order_id = p.stream_id
          LEFT JOIN assigned s ON s.order_id = p.stream_id
          LEFT JOIN seat_versions v ON v.order_id = p.stream_id
          LEFT JOIN moved m ON m.order_id = p.stream_id),
    live AS (
        INSERT INTO management_orders (order_id, conference_id, assignments_id, access_code,
                                       registrant_name, registrant_email, total_amount, status,
                                       version, assignments_version)
        SELECT order_id, conference_id, assignments_id, access_code,
               CASE WHEN has_registrant THEN registrant_name END, registrant_email,
               total_amount, status, version, assignments_version
          FROM final WHERE NOT expired),
    gone AS (
        INSERT INTO management_orders_expired (order_id, conference_id, assignments_id,
                                               access_code, registrant_name, registrant_email,
                                               total_amount, status, version,
                                               assignments_version)
        SELECT order_id, conference_id, assignments_id, access_code,
               CASE WHEN has_registrant THEN registrant_name END, registrant_email,
               total_amount, status, version, assignments_version
          FROM final WHERE expired),
    -- a seat row: made by the first SeatAssigned after the last
    -- SeatUnassigned of its position, its email from the last SeatAssigned,
    -- its names from the last SeatAssigned or SeatAssignmentUpdated
    per_position AS (
        SELECT order_id, (data->>'position')::integer AS position, pos, event_type, data,
               max(pos) FILTER (WHERE event_type = 'SeatUnassigned')
                   OVER (PARTITION BY order_id, (data->>'position')::integer) AS unassigned_pos
          FROM seat_ev),
    runs AS (
        SELECT q.*,
               min(pos) FILTER (WHERE event_type = 'SeatAssigned')
                   OVER (PARTITION BY order_id, position) AS first_assigned_pos
          FROM per_position q
         WHERE q.pos > coalesce(q.unassigned_pos, 0) AND q.event_type <> 'SeatUnassigned'),
    rows_ AS (
        SELECT order_id, position,
               (array_agg(data ORDER BY pos) FILTER (WHERE event_type = 'SeatAssigned'))[1]
                   AS first_assigned,
               (array_agg(data ORDER BY pos DESC) FILTER (WHERE event_type = 'SeatAssigned'))[1]
                   AS last_assigned,
               (array_agg(data ORDER BY pos DESC) FILTER (WHERE pos >= first_assigned_pos))[1]
                   AS last_named
          FROM runs GROUP BY order_id, position)
    INSERT INTO management_order_seats (order_id, position, seat_type, first_name, last_name,
                                        email)
    SELECT order_id, position, (first_assigned->>'seatType')::uuid,
           last_named#>>'{attendee,firstName}', last_named#>>'{attendee,lastName}',
           last_assigned#>>'{attendee,email}'
      FROM rows_
     WHERE first_assigned IS NOT NULL;
    RETURN up_to;
END
$$;

------------------------------------------------------------------------
-- seat_type_view
------------------------------------------------------------------------

CREATE FUNCTION conference.bulk_load_seat_type_view(up_to bigint)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    stop_at bigint;
BEGIN
    -- A SeatUpdated for a seat type that has no row yet is a poison event
    -- for the handler (it raises): the prefix ends before it.
    SELECT min(u.global_position) INTO stop_at
      FROM cqrs.events u
     WHERE u.global_position BETWEEN 1 AND up_to AND u.event_type = 'SeatUpdated'
       AND NOT EXISTS (SELECT 1 FROM cqrs.events c
                        WHERE c.stream_id = u.stream_id AND c.event_type = 'SeatCreated'
                          AND c.global_position BETWEEN 1 AND u.global_position);
    IF stop_at IS NOT NULL THEN
        up_to := stop_at - 1;
    END IF;

    WITH ev AS MATERIALIZED (
        SELECT e.global_position AS pos, e.stream_id, e.version, e.event_type, e.data
          FROM cqrs.events e
         WHERE e.global_position BETWEEN 1 AND up_to
           AND e.event_type IN ('SeatCreated', 'SeatUpdated', 'AvailableSeatsChanged',
                                'SeatsReserved', 'SeatsReservationCancelled')),
    created AS MATERIALIZED (
        SELECT DISTINCT ON (stream_id) stream_id, pos, version, data,
               cqrs.derived_stream_id('SeatsAvailability', (data->>'conferenceId')::uuid)
                   AS seats_availability_id
          FROM ev WHERE event_type = 'SeatCreated'
         ORDER BY stream_id, pos),
    updated AS (
        SELECT DISTINCT ON (u.stream_id) u.stream_id, u.version, u.data
          FROM ev u JOIN created c ON c.stream_id = u.stream_id AND u.pos > c.pos
         WHERE u.event_type = 'SeatUpdated'
         ORDER BY u.stream_id, u.pos DESC),
    -- availability deltas (summed per seat type within an event) reach the
    -- seat types that have a row by then, in the event's conference
    deltas AS (
        SELECT e.pos, e.version, e.stream_id, (x->>'seatType')::uuid AS seat_type,
               sum((x->>'quantity')::integer) AS delta
          FROM ev e
         CROSS JOIN LATERAL jsonb_array_elements(coalesce(
                CASE e.event_type WHEN 'AvailableSeatsChanged' THEN e.data->'seats'
                                  ELSE e.data->'availableSeatsChanged' END, '[]')) x
         WHERE e.event_type IN ('AvailableSeatsChanged', 'SeatsReserved',
                                'SeatsReservationCancelled')
         GROUP BY 1, 2, 3, 4),
    availability AS (
        SELECT c.stream_id, sum(d.delta) AS available, max(d.version) AS version
          FROM created c
          JOIN deltas d ON d.seat_type = c.stream_id AND d.stream_id = c.seats_availability_id
                       AND d.pos > c.pos
         GROUP BY c.stream_id)
    INSERT INTO seat_type_view (id, conference_id, name, description, price, quantity,
                                available_quantity, seats_availability_version,
                                seats_availability_id, version)
    SELECT c.stream_id, (c.data->>'conferenceId')::uuid,
           coalesce(u.data, c.data)->>'name', coalesce(u.data, c.data)->>'description',
           (coalesce(u.data, c.data)->>'price')::numeric,
           (coalesce(u.data, c.data)->>'quantity')::integer,
           coalesce(a.available, 0), coalesce(a.version, -1), c.seats_availability_id,
           coalesce(u.version, c.version)
      FROM created c
      LEFT JOIN updated u ON u.stream_id = c.stream_id
      LEFT JOIN availability a ON a.stream_id = c.stream_id;
    RETURN up_to;
END
$$;

UPDATE cqrs.projections
   SET bulk_loader = CASE name
         WHEN 'draft_orders' THEN 'conference.bulk_load_draft_orders(bigint)'::regprocedure
         WHEN 'priced_orders' THEN 'conference.bulk_load_priced_orders(bigint)'::regprocedure
         WHEN 'seat_assignments_view' THEN 'conference.bulk_load_seat_assignments(bigint)'::regprocedure
         WHEN 'management_orders' THEN 'conference.bulk_load_management_orders(bigint)'::regprocedure
         WHEN 'seat_type_view' THEN 'conference.bulk_load_seat_type_view(bigint)'::regprocedure
       END
 WHERE name IN ('draft_orders', 'priced_orders', 'seat_assignments_view', 'management_orders',
                'seat_type_view');

REVOKE ALL ON FUNCTION conference.bulk_load_draft_orders(bigint),
    conference.bulk_load_priced_orders(bigint),
    conference.bulk_load_seat_assignments(bigint),
    conference.bulk_load_management_orders(bigint),
    conference.bulk_load_seat_type_view(bigint) FROM PUBLIC;
