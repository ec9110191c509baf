-- Read models of the conference domain (design.md section 6, domain.md
-- 3.8, 4.4, 5), kept by projections (60_projections.sql).  See
-- docs/read-models.md for the rule per event and docs/analytics.md for the
-- analyst views.
--
-- Conventions:
--   * Each projection owns a set of tables in schema conference, listed in
--     cqrs.projections.tables.  Its handler names them UNQUALIFIED and sets
--     no search_path of its own: the runner sets search_path to the
--     projection's schema (cqrs.projections.schema_name) around the call,
--     so cqrs.rebuild_projection can replay the same handler into a shadow
--     schema and swap the tables in (75_rebuild.sql).  Everything else
--     (pg_catalog, cqrs.*) is found through pg_catalog or schema-qualified.
--   * No foreign keys and no serial columns between read-model tables, so a
--     projection's tables can be rebuilt and swapped on their own.
--   * Every handler is idempotent against re-delivery and ignores stale
--     versions: rows remember the version of the stream event that last
--     changed them and an event applies only when its version is higher
--     (the reference's WasNotAlreadyHandled / SeatsAvailabilityVersion).
--   * Columns are derived from event data (and the event's recorded_at)
--     only, so a rebuild gives exactly the live rows (cqrs.verify_projection).

------------------------------------------------------------------------
-- conference_view: the published conference list (ConferencesView)
------------------------------------------------------------------------

CREATE TABLE conference.conference_view (
    id uuid PRIMARY KEY,
    slug text NOT NULL,
    name text NOT NULL,
    description text,
    location text,
    tagline text,
    twitter_search text,
    start_date date,
    end_date date,
    is_published boolean NOT NULL DEFAULT false,
    owner_name text,
    owner_email text,
    version bigint NOT NULL
);
CREATE INDEX conference_view_slug_idx ON conference.conference_view (lower(slug));

COMMENT ON TABLE conference.conference_view IS
    'Read model (projection conference_view): conferences as registrants see them';
COMMENT ON COLUMN conference.conference_view.version IS
    'Version of the last Conference stream event applied (stale and repeated events are ignored)';

CREATE FUNCTION conference.project_conference_view(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    d jsonb := e.data;
BEGIN
    CASE e.event_type
    WHEN 'ConferenceCreated' THEN
        INSERT INTO conference_view AS v
               (id, slug, name, description, location, tagline, twitter_search,
                start_date, end_date, is_published, owner_name, owner_email, version)
        VALUES (e.stream_id, d->>'slug', d->>'name', d->>'description', d->>'location',
                d->>'tagline', d->>'twitterSearch', (d->>'startDate')::date,
                (d->>'endDate')::date, false, d#>>'{owner,name}', d#>>'{owner,email}',
                e.version)
        ON CONFLICT (id) DO NOTHING;     -- re-delivered: ignored
    WHEN 'ConferenceUpdated' THEN
        UPDATE conference_view
           SET slug = d->>'slug', name = d->>'name', description = d->>'description',
               location = d->>'location', tagline = d->>'tagline',
               twitter_search = d->>'twitterSearch',
               start_date = (d->>'startDate')::date, end_date = (d->>'endDate')::date,
               owner_name = d#>>'{owner,name}', owner_email = d#>>'{owner,email}',
               version = e.version
         WHERE id = e.stream_id AND version < e.version;
        IF NOT FOUND THEN
            PERFORM conference.rm_require_row(
                EXISTS (SELECT 1 FROM conference_view WHERE id = e.stream_id), e);
        END IF;
    WHEN 'ConferencePublished', 'ConferenceUnpublished' THEN
        UPDATE conference_view
           SET is_published = (e.event_type = 'ConferencePublished'), version = e.version
         WHERE id = e.stream_id AND version < e.version;
        IF NOT FOUND THEN
            PERFORM conference.rm_require_row(
                EXISTS (SELECT 1 FROM conference_view WHERE id = e.stream_id), e);
        END IF;
    ELSE
        NULL;
    END CASE;
END
$$;

-- The reference throws when an update finds no row (a poison event: the
-- projection stops there, visibly).  A stale or repeated event finds its
-- row and is ignored.
CREATE FUNCTION conference.rm_require_row(row_exists boolean, e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT row_exists THEN
        RAISE EXCEPTION '% for stream % (version %) has no read-model row to update',
                        e.event_type, e.stream_id, e.version
            USING ERRCODE = 'P0002';
    END IF;
END
$$;

------------------------------------------------------------------------
-- seat_type_view: seat types with their availability (ConferenceSeatTypesView)
------------------------------------------------------------------------

CREATE TABLE conference.seat_type_view (
    id uuid PRIMARY KEY,
    conference_id uuid NOT NULL,
    name text NOT NULL,
    description text,
    price numeric(18,2) NOT NULL,
    quantity integer NOT NULL,
    available_quantity integer NOT NULL DEFAULT 0,
    seats_availability_version bigint NOT NULL DEFAULT -1,
    seats_availability_id uuid NOT NULL,
    version bigint NOT NULL
);
CREATE INDEX seat_type_view_conference_id_idx ON conference.seat_type_view (conference_id);
CREATE INDEX seat_type_view_seats_availability_id_idx
    ON conference.seat_type_view (seats_availability_id);

COMMENT ON TABLE conference.seat_type_view IS
    'Read model (projection seat_type_view): seat types and seats available (may be negative; show greatest(available_quantity, 0))';
COMMENT ON COLUMN conference.seat_type_view.seats_availability_version IS
    'Version of the last SeatsAvailability event applied to the conference''s rows (reference SeatsAvailabilityVersion)';
COMMENT ON COLUMN conference.seat_type_view.seats_availability_id IS
    'The conference''s SeatsAvailability stream: cqrs.derived_stream_id(''SeatsAvailability'', conference_id)';

CREATE FUNCTION conference.project_seat_type_view(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    d jsonb := e.data;
    deltas jsonb;
    seen bigint;
BEGIN
    CASE e.event_type
    WHEN 'SeatCreated' THEN
        INSERT INTO seat_type_view AS v
               (id, conference_id, name, description, price, quantity,
                available_quantity, seats_availability_version, seats_availability_id,
                version)
        VALUES (e.stream_id, (d->>'conferenceId')::uuid, d->>'name', d->>'description',
                (d->>'price')::numeric, (d->>'quantity')::integer, 0, -1,
                cqrs.derived_stream_id('SeatsAvailability', (d->>'conferenceId')::uuid),
                e.version)
        ON CONFLICT (id) DO NOTHING;     -- re-delivered: ignored
        RETURN;
    WHEN 'SeatUpdated' THEN
        UPDATE seat_type_view
           SET name = d->>'name', description = d->>'description',
               price = (d->>'price')::numeric, quantity = (d->>'quantity')::integer,
               version = e.version
         WHERE id = e.stream_id AND version < e.version;
        IF NOT FOUND THEN
            PERFORM conference.rm_require_row(
                EXISTS (SELECT 1 FROM seat_type_view WHERE id = e.stream_id), e);
        END IF;
        RETURN;
    WHEN 'AvailableSeatsChanged' THEN
        deltas := d->'seats';
    WHEN 'SeatsReserved', 'SeatsReservationCancelled' THEN
        deltas := d->'availableSeatsChanged';
    ELSE
        RETURN;
    END CASE;

    -- The reference's guard: the conference's highest applied
    -- SeatsAvailability version; a conference without rows drops the event.
    SELECT max(seats_availability_version) INTO seen
      FROM seat_type_view WHERE seats_availability_id = e.stream_id;
    IF seen IS NULL OR seen >= e.version THEN
        RETURN;
    END IF;
    UPDATE seat_type_view s
       SET available_quantity = s.available_quantity + q.delta,
           seats_availability_version = e.version
      FROM (SELECT (x->>'seatType')::uuid AS seat_type, sum((x->>'quantity')::integer) AS delta
              FROM jsonb_array_elements(coalesce(deltas, '[]')) x
             GROUP BY 1) q
     WHERE s.id = q.seat_type AND s.seats_availability_id = e.stream_id;
END
$$;

------------------------------------------------------------------------
-- draft_orders + draft_order_items (OrdersViewV3 / OrderItemsViewV3)
------------------------------------------------------------------------

-- draft_orders and draft_order_items are updated soon after each insert
-- (reservation, confirmation, expiry): room left on each page keeps those
-- updates HOT (no new index entries).
CREATE TABLE conference.draft_orders (
    order_id uuid PRIMARY KEY,
    conference_id uuid NOT NULL,
    state text NOT NULL CHECK (state IN ('pending_reservation', 'partially_reserved',
        'reservation_completed', 'rejected', 'confirmed', 'expired')),
    reservation_expiration timestamptz,
    registrant_email text,
    access_code text,
    version bigint NOT NULL,
    placed_at timestamptz NOT NULL,
    confirmed_at timestamptz,
    expired_at timestamptz
) WITH (fillfactor = 70);
CREATE INDEX draft_orders_conference_id_idx ON conference.draft_orders (conference_id);
CREATE INDEX draft_orders_locator_idx ON conference.draft_orders (lower(registrant_email), access_code);

CREATE TABLE conference.draft_order_items (
    order_id uuid NOT NULL,
    seat_type uuid NOT NULL,
    requested_seats integer NOT NULL,
    reserved_seats integer NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, seat_type)
) WITH (fillfactor = 70);
CREATE INDEX draft_order_items_seat_type_idx ON conference.draft_order_items (seat_type);

COMMENT ON TABLE conference.draft_orders IS
    'Read model (projection draft_orders): the registrant''s order as it is being reserved; state as text, expired included';
COMMENT ON COLUMN conference.draft_orders.version IS
    'Version of the last Order event applied (the reference''s OrderVersion; a UI waits for it to grow)';
COMMENT ON TABLE conference.draft_order_items IS
    'Read model (projection draft_orders): requested and reserved seats per seat type of a draft order';

-- The order's seat list as rows, one per seat type (the last entry wins when
-- a seat type is listed twice, as in SeatsAvailability.MakeReservation).
-- (no SET clause, so the planner can inline it; it uses pg_catalog only)
CREATE FUNCTION conference.rm_seat_list(seats jsonb)
    RETURNS TABLE (seat_type uuid, quantity integer)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT DISTINCT ON ((x->>'seatType')::uuid)
           (x->>'seatType')::uuid, (x->>'quantity')::integer
      FROM pg_catalog.jsonb_array_elements(coalesce(seats, '[]')) WITH ORDINALITY AS t(x, n)
     ORDER BY (x->>'seatType')::uuid, n DESC
$$;

CREATE FUNCTION conference.project_draft_orders(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    d jsonb := e.data;
BEGIN
    IF e.event_type = 'OrderPlaced' THEN
        INSERT INTO draft_orders (order_id, conference_id, state, reservation_expiration,
                                  access_code, version, placed_at)
        VALUES (e.stream_id, (d->>'conferenceId')::uuid, 'pending_reservation', NULL,
                d->>'accessCode', e.version, e.recorded_at)
        ON CONFLICT (order_id) DO NOTHING;
        IF FOUND THEN
            INSERT INTO draft_order_items (order_id, seat_type, requested_seats, reserved_seats)
            SELECT e.stream_id, s.seat_type, s.quantity, 0
              FROM conference.rm_seat_list(d->'seats') s;
        END IF;
        RETURN;
    END IF;

    -- WasNotAlreadyHandled: only a newer version of the order applies
    CASE e.event_type
    WHEN 'OrderUpdated' THEN
        UPDATE draft_orders SET state = 'pending_reservation', version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
        IF FOUND THEN
            DELETE FROM draft_order_items WHERE order_id = e.stream_id;
            INSERT INTO draft_order_items (order_id, seat_type, requested_seats, reserved_seats)
            SELECT e.stream_id, s.seat_type, s.quantity, 0
              FROM conference.rm_seat_list(d->'seats') s;
        END IF;
    WHEN 'OrderPartiallyReserved', 'OrderReservationCompleted' THEN
        UPDATE draft_orders
           SET state = CASE e.event_type WHEN 'OrderPartiallyReserved'
                            THEN 'partially_reserved' ELSE 'reservation_completed' END,
               reservation_expiration = (d->>'reservationExpiration')::timestamptz,
               version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
        IF FOUND THEN
            -- lines not in the event keep their reserved seats (reference)
            UPDATE draft_order_items i SET reserved_seats = s.quantity
              FROM conference.rm_seat_list(d->'seats') s
             WHERE i.order_id = e.stream_id AND i.seat_type = s.seat_type;
        END IF;
    WHEN 'OrderRegistrantAssigned' THEN
        UPDATE draft_orders SET registrant_email = d->>'email', version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
    WHEN 'OrderConfirmed', 'OrderPaymentConfirmed' THEN
        UPDATE draft_orders SET state = 'confirmed', confirmed_at = e.recorded_at,
                                version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
    WHEN 'OrderExpired' THEN
        -- design.md 6: the draft order shows expired (the reference kept
        -- its last state)
        UPDATE draft_orders SET state = 'expired', expired_at = e.recorded_at,
                                version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
    ELSE
        NULL;
    END CASE;
END
$$;

------------------------------------------------------------------------
-- priced_orders + priced_order_lines (PricedOrdersV3 / PricedOrderLinesV3)
------------------------------------------------------------------------

CREATE TABLE conference.priced_orders (
    order_id uuid PRIMARY KEY,
    conference_id uuid,
    assignments_id uuid,
    total numeric(18,2) NOT NULL DEFAULT 0,
    is_free_of_charge boolean NOT NULL DEFAULT false,
    reservation_expiration timestamptz,
    version bigint NOT NULL
);
CREATE INDEX priced_orders_conference_id_idx ON conference.priced_orders (conference_id);

CREATE TABLE conference.priced_order_lines (
    order_id uuid NOT NULL,
    position integer NOT NULL,
    seat_type uuid,
    description text,
    unit_price numeric(18,2),
    quantity integer,
    line_total numeric(18,2) NOT NULL,
    PRIMARY KEY (order_id, position)
);

-- PricedOrderLineSeatTypeDescriptionsV3: seat type names for the lines,
-- owned by the same projection (so a rebuild needs no other read model).
CREATE TABLE conference.priced_order_seat_types (
    seat_type_id uuid PRIMARY KEY,
    name text
);

-- Priced orders of expired orders (the reference deletes them from
-- PricedOrders); kept aside with their lines so that an order confirmed
-- after it expired (a payment completed late and the process manager got
-- the seats again: design.md section 6) is priced again, with the totals
-- the registrant paid.
CREATE TABLE conference.priced_orders_expired (
    LIKE conference.priced_orders,
    PRIMARY KEY (order_id)
);

CREATE TABLE conference.priced_order_lines_expired (
    LIKE conference.priced_order_lines,
    PRIMARY KEY (order_id, position)
);

COMMENT ON TABLE conference.priced_orders IS
    'Read model (projection priced_orders): the order''s totals; moved to priced_orders_expired when the order expires, back when it is confirmed after all; reservation_expiration NULL once confirmed';
COMMENT ON COLUMN conference.priced_orders_expired.version IS
    'Version of the OrderExpired event that moved the priced order here';
COMMENT ON TABLE conference.priced_orders_expired IS
    'Read model (projection priced_orders): priced orders of expired orders, out of priced_orders';
COMMENT ON TABLE conference.priced_order_lines_expired IS
    'Read model (projection priced_orders): the lines of priced_orders_expired';
COMMENT ON TABLE conference.priced_order_lines IS
    'Read model (projection priced_orders): priced lines of an order, position 0..n-1 as priced';
COMMENT ON TABLE conference.priced_order_seat_types IS
    'Read model (projection priced_orders): seat type names used as line descriptions';

CREATE FUNCTION conference.project_priced_orders(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    d jsonb := e.data;
BEGIN
    CASE e.event_type
    WHEN 'OrderPlaced' THEN
        INSERT INTO priced_orders (order_id, conference_id, reservation_expiration, version)
        SELECT e.stream_id, (d->>'conferenceId')::uuid,
               (d->>'reservationAutoExpiration')::timestamptz, e.version
         WHERE NOT EXISTS (SELECT 1 FROM priced_orders_expired x WHERE x.order_id = e.stream_id)
        ON CONFLICT (order_id) DO NOTHING;
    WHEN 'OrderTotalsCalculated' THEN
        UPDATE priced_orders
           SET total = (d->>'total')::numeric,
               is_free_of_charge = coalesce((d->>'isFreeOfCharge')::boolean, false),
               version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
        IF FOUND THEN
            DELETE FROM priced_order_lines WHERE order_id = e.stream_id;
            INSERT INTO priced_order_lines (order_id, position, seat_type, description,
                                            unit_price, quantity, line_total)
            SELECT e.stream_id, (l.n - 1)::integer, (l.x->>'seatType')::uuid, st.name,
                   (l.x->>'unitPrice')::numeric, (l.x->>'quantity')::integer,
                   (l.x->>'lineTotal')::numeric
              FROM jsonb_array_elements(coalesce(d->'lines', '[]')) WITH ORDINALITY AS l(x, n)
              LEFT JOIN priced_order_seat_types st
                     ON st.seat_type_id = (l.x->>'seatType')::uuid;
        END IF;
    WHEN 'OrderConfirmed', 'OrderPaymentConfirmed' THEN
        -- an order confirmed after it expired (payment after expiry, seats
        -- re-acquired) is priced again: its priced order comes back
        PERFORM conference.rm_unexpire_priced_order(e.stream_id, e.version);
        UPDATE priced_orders SET reservation_expiration = NULL, version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
    WHEN 'OrderExpired' THEN
        -- out of priced_orders (the reference deletes it), kept aside
        WITH gone AS (
            DELETE FROM priced_orders
             WHERE order_id = e.stream_id AND version < e.version
            RETURNING *)
        INSERT INTO priced_orders_expired
        SELECT order_id, conference_id, assignments_id, total, is_free_of_charge,
               reservation_expiration, e.version
          FROM gone
        ON CONFLICT (order_id) DO NOTHING;
        IF FOUND THEN
            WITH gone AS (
                DELETE FROM priced_order_lines WHERE order_id = e.stream_id RETURNING *)
            INSERT INTO priced_order_lines_expired SELECT * FROM gone
            ON CONFLICT (order_id, position) DO NOTHING;
        END IF;
    WHEN 'SeatAssignmentsCreated' THEN
        -- no version check, as in the reference (another stream)
        UPDATE priced_orders SET assignments_id = e.stream_id
         WHERE order_id = (d->>'orderId')::uuid;
    WHEN 'SeatCreated', 'SeatUpdated' THEN
        INSERT INTO priced_order_seat_types (seat_type_id, name)
        VALUES (e.stream_id, d->>'name')
        ON CONFLICT (seat_type_id) DO UPDATE SET name = excluded.name;
    ELSE
        NULL;
    END CASE;
END
$$;

-- Move an expired priced order and its lines back into priced_orders (only
-- when it expired at a version older than version).  Names its tables
-- unqualified: it runs under the projection's search_path.
CREATE FUNCTION conference.rm_unexpire_priced_order(p_order_id uuid, p_version bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    WITH back AS (
        DELETE FROM priced_orders_expired x
         WHERE x.order_id = p_order_id AND x.version < p_version
        RETURNING *)
    INSERT INTO priced_orders
    SELECT * FROM back
    ON CONFLICT ON CONSTRAINT priced_orders_pkey DO NOTHING;
    IF FOUND THEN
        WITH back AS (
            DELETE FROM priced_order_lines_expired WHERE order_id = p_order_id RETURNING *)
        INSERT INTO priced_order_lines
        SELECT * FROM back
        ON CONFLICT ON CONSTRAINT priced_order_lines_pkey DO NOTHING;
    END IF;
END
$$;

------------------------------------------------------------------------
-- seat_assignments_view (OrderSeats, one row per position)
------------------------------------------------------------------------

CREATE TABLE conference.seat_assignments_view (
    assignments_id uuid NOT NULL,
    order_id uuid NOT NULL,
    position integer NOT NULL,
    seat_type uuid NOT NULL,
    seat_name text,
    first_name text,
    last_name text,
    email text,
    version bigint NOT NULL,
    PRIMARY KEY (assignments_id, position)
);
CREATE INDEX seat_assignments_view_order_id_idx ON conference.seat_assignments_view (order_id);

CREATE TABLE conference.seat_assignment_seat_types (
    seat_type_id uuid PRIMARY KEY,
    name text
);

COMMENT ON TABLE conference.seat_assignments_view IS
    'Read model (projection seat_assignments_view): the seats of a confirmed order and who sits in them; an unassigned position keeps its row with NULL attendee';
COMMENT ON COLUMN conference.seat_assignments_view.seat_name IS
    'Seat type name when the assignments were created (NULL if unknown then), as in the reference';
COMMENT ON TABLE conference.seat_assignment_seat_types IS
    'Read model (projection seat_assignments_view): seat type names for seat_name';

CREATE FUNCTION conference.project_seat_assignments(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    d jsonb := e.data;
BEGIN
    CASE e.event_type
    WHEN 'SeatAssignmentsCreated' THEN
        INSERT INTO seat_assignments_view (assignments_id, order_id, position, seat_type,
                                           seat_name, version)
        SELECT e.stream_id, (d->>'orderId')::uuid, (x->>'position')::integer,
               (x->>'seatType')::uuid, st.name, e.version
          FROM jsonb_array_elements(coalesce(d->'seats', '[]')) x
          LEFT JOIN seat_assignment_seat_types st ON st.seat_type_id = (x->>'seatType')::uuid
        ON CONFLICT (assignments_id, position) DO NOTHING;
    WHEN 'SeatAssigned', 'SeatAssignmentUpdated' THEN
        UPDATE seat_assignments_view
           SET first_name = d#>>'{attendee,firstName}', last_name = d#>>'{attendee,lastName}',
               email = d#>>'{attendee,email}', version = e.version
         WHERE assignments_id = e.stream_id AND position = (d->>'position')::integer
           AND version < e.version;
    WHEN 'SeatUnassigned' THEN
        UPDATE seat_assignments_view
           SET first_name = NULL, last_name = NULL, email = NULL, version = e.version
         WHERE assignments_id = e.stream_id AND position = (d->>'position')::integer
           AND version < e.version;
    WHEN 'SeatCreated', 'SeatUpdated' THEN
        INSERT INTO seat_assignment_seat_types (seat_type_id, name)
        VALUES (e.stream_id, d->>'name')
        ON CONFLICT (seat_type_id) DO UPDATE SET name = excluded.name;
    ELSE
        NULL;
    END CASE;
END
$$;

------------------------------------------------------------------------
-- management_orders + management_order_seats (Conference Management's
-- Orders & Attendees, OrderEventHandler)
------------------------------------------------------------------------

CREATE TABLE conference.management_orders (
    order_id uuid PRIMARY KEY,
    conference_id uuid NOT NULL,
    assignments_id uuid,
    access_code text,
    registrant_name text,
    registrant_email text,
    total_amount numeric(18,2) NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'paid', 'needs_attention')),
    version bigint NOT NULL,
    assignments_version bigint NOT NULL DEFAULT -1
);
CREATE INDEX management_orders_conference_id_idx ON conference.management_orders (conference_id);
CREATE INDEX management_orders_assignments_id_idx ON conference.management_orders (assignments_id);

CREATE TABLE conference.management_order_seats (
    order_id uuid NOT NULL,
    position integer NOT NULL,
    seat_type uuid NOT NULL,
    first_name text,
    last_name text,
    email text,
    PRIMARY KEY (order_id, position)
);

-- Orders that expired (the reference deletes them from Orders); kept aside
-- so a payment that completes after expiry can bring the order back,
-- marked needs_attention, with its registrant and total.
CREATE TABLE conference.management_orders_expired (
    LIKE conference.management_orders,
    PRIMARY KEY (order_id)
);

COMMENT ON TABLE conference.management_orders IS
    'Read model (projection management_orders): the business customer''s orders; status pending, paid or needs_attention (paid after expiry, seats not re-acquired)';
COMMENT ON COLUMN conference.management_orders.registrant_name IS '"LastName, FirstName", as in the reference';
COMMENT ON TABLE conference.management_order_seats IS
    'Read model (projection management_orders): attendees of an order; an unassigned seat has no row';
COMMENT ON TABLE conference.management_orders_expired IS
    'Read model (projection management_orders): expired orders, out of management_orders';

CREATE FUNCTION conference.project_management_orders(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    d jsonb := e.data;
    oid_ uuid;
BEGIN
    CASE e.event_type
    WHEN 'OrderPlaced' THEN
        INSERT INTO management_orders (order_id, conference_id, access_code, status, version)
        SELECT e.stream_id, (d->>'conferenceId')::uuid, d->>'accessCode', 'pending', e.version
         WHERE NOT EXISTS (SELECT 1 FROM management_orders_expired x WHERE x.order_id = e.stream_id)
        ON CONFLICT (order_id) DO NOTHING;
    WHEN 'OrderRegistrantAssigned' THEN
        UPDATE management_orders
           SET registrant_email = d->>'email',
               registrant_name = concat_ws(', ', d->>'lastName', d->>'firstName'),
               version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
    WHEN 'OrderTotalsCalculated' THEN
        UPDATE management_orders SET total_amount = (d->>'total')::numeric, version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
    WHEN 'OrderConfirmed', 'OrderPaymentConfirmed', 'OrderNeedsAttention' THEN
        -- an expired order that is confirmed (seats re-acquired) or marked
        -- for attention comes back
        PERFORM conference.rm_unexpire_management_order(e.stream_id, e.version);
        UPDATE management_orders
           SET status = CASE e.event_type WHEN 'OrderNeedsAttention'
                             THEN 'needs_attention' ELSE 'paid' END,
               version = e.version
         WHERE order_id = e.stream_id AND version < e.version;
    WHEN 'OrderExpired' THEN
        WITH gone AS (
            DELETE FROM management_orders
             WHERE order_id = e.stream_id AND version < e.version
            RETURNING *)
        INSERT INTO management_orders_expired
        SELECT order_id, conference_id, assignments_id, access_code, registrant_name,
               registrant_email, total_amount, status, e.version, assignments_version
          FROM gone
        ON CONFLICT (order_id) DO NOTHING;
    WHEN 'PaymentCompleted' THEN
        -- Derived: a payment completed for an order that had expired
        -- needs attention until the order is confirmed (if its seats can
        -- be re-acquired).  The payment stream is not the order's, so the
        -- order's version is not changed.
        oid_ := (d->>'paymentSourceId')::uuid;
        IF EXISTS (SELECT 1 FROM management_orders_expired WHERE order_id = oid_) THEN
            PERFORM conference.rm_unexpire_management_order(oid_, NULL);
            UPDATE management_orders SET status = 'needs_attention' WHERE order_id = oid_;
        END IF;
    WHEN 'SeatAssignmentsCreated' THEN
        UPDATE management_orders SET assignments_id = e.stream_id
         WHERE order_id = (d->>'orderId')::uuid;
    WHEN 'SeatAssigned', 'SeatAssignmentUpdated', 'SeatUnassigned' THEN
        UPDATE management_orders SET assignments_version = e.version
         WHERE assignments_id = e.stream_id AND assignments_version < e.version
        RETURNING order_id INTO oid_;
        IF oid_ IS NULL THEN
            RETURN;                       -- missing order or already applied
        END IF;
        IF e.event_type = 'SeatAssigned' THEN
            INSERT INTO management_order_seats (order_id, position, seat_type,
                                                first_name, last_name, email)
            VALUES (oid_, (d->>'position')::integer, (d->>'seatType')::uuid,
                    d#>>'{attendee,firstName}', d#>>'{attendee,lastName}',
                    d#>>'{attendee,email}')
            ON CONFLICT (order_id, position) DO UPDATE
               SET first_name = excluded.first_name, last_name = excluded.last_name,
                   email = excluded.email;
        ELSIF e.event_type = 'SeatAssignmentUpdated' THEN
            UPDATE management_order_seats
               SET first_name = d#>>'{attendee,firstName}', last_name = d#>>'{attendee,lastName}'
             WHERE order_id = oid_ AND position = (d->>'position')::integer;
        ELSE
            DELETE FROM management_order_seats
             WHERE order_id = oid_ AND position = (d->>'position')::integer;
        END IF;
    ELSE
        NULL;
    END CASE;
END
$$;

-- Move an expired order back into management_orders (only when it expired
-- at a version older than version; NULL: whatever the version).  Names its
-- tables unqualified: it runs under the projection's search_path.
CREATE FUNCTION conference.rm_unexpire_management_order(p_order_id uuid, p_version bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    WITH back AS (
        DELETE FROM management_orders_expired x
         WHERE x.order_id = p_order_id AND (p_version IS NULL OR x.version < p_version)
        RETURNING *)
    INSERT INTO management_orders
    SELECT * FROM back
    ON CONFLICT ON CONSTRAINT management_orders_pkey DO NOTHING;
END
$$;

------------------------------------------------------------------------
-- payment_details_view: the payments table as the reference's view
-- (CQRS without ES: no projection, always current)
------------------------------------------------------------------------

CREATE VIEW conference.payment_details_view AS
SELECT p.id AS payment_id,
       p.payment_source_id AS order_id,
       p.state,
       p.description,
       p.total_amount,
       p.initiated_at,
       p.updated_at
  FROM conference.payments p;

COMMENT ON VIEW conference.payment_details_view IS
    'Payments (ThirdPartyProcessorPaymentDetailsView): state initiated, completed or rejected';

------------------------------------------------------------------------
-- Registration of the projections
------------------------------------------------------------------------

INSERT INTO cqrs.projections (name, handler, event_types, schema_name, tables, internal)
VALUES
  ('conference_view', 'conference.project_conference_view(cqrs.event)',
   ARRAY['ConferenceCreated', 'ConferenceUpdated', 'ConferencePublished',
         'ConferenceUnpublished'],
   'conference', ARRAY['conference_view'], true),
  ('seat_type_view', 'conference.project_seat_type_view(cqrs.event)',
   ARRAY['SeatCreated', 'SeatUpdated', 'AvailableSeatsChanged', 'SeatsReserved',
         'SeatsReservationCancelled'],
   'conference', ARRAY['seat_type_view'], true),
  ('draft_orders', 'conference.project_draft_orders(cqrs.event)',
   ARRAY['OrderPlaced', 'OrderUpdated', 'OrderPartiallyReserved',
         'OrderReservationCompleted', 'OrderRegistrantAssigned', 'OrderConfirmed',
         'OrderPaymentConfirmed', 'OrderExpired'],
   'conference', ARRAY['draft_orders', 'draft_order_items'], true),
  ('priced_orders', 'conference.project_priced_orders(cqrs.event)',
   ARRAY['OrderPlaced', 'OrderTotalsCalculated', 'OrderConfirmed', 'OrderPaymentConfirmed',
         'OrderExpired', 'SeatAssignmentsCreated', 'SeatCreated', 'SeatUpdated'],
   'conference', ARRAY['priced_orders', 'priced_order_lines', 'priced_order_seat_types',
                       'priced_orders_expired', 'priced_order_lines_expired'], true),
  ('seat_assignments_view', 'conference.project_seat_assignments(cqrs.event)',
   ARRAY['SeatAssignmentsCreated', 'SeatAssigned', 'SeatAssignmentUpdated', 'SeatUnassigned',
         'SeatCreated', 'SeatUpdated'],
   'conference', ARRAY['seat_assignments_view', 'seat_assignment_seat_types'], true),
  ('management_orders', 'conference.project_management_orders(cqrs.event)',
   ARRAY['OrderPlaced', 'OrderRegistrantAssigned', 'OrderTotalsCalculated', 'OrderConfirmed',
         'OrderPaymentConfirmed', 'OrderNeedsAttention', 'OrderExpired', 'PaymentCompleted',
         'SeatAssignmentsCreated', 'SeatAssigned', 'SeatAssignmentUpdated', 'SeatUnassigned'],
   'conference', ARRAY['management_orders', 'management_order_seats',
                       'management_orders_expired'], true);

REVOKE ALL ON FUNCTION conference.project_conference_view(cqrs.event),
    conference.project_seat_type_view(cqrs.event),
    conference.project_draft_orders(cqrs.event),
    conference.project_priced_orders(cqrs.event),
    conference.project_seat_assignments(cqrs.event),
    conference.project_management_orders(cqrs.event),
    conference.rm_unexpire_management_order(uuid, bigint),
    conference.rm_unexpire_priced_order(uuid, bigint) FROM PUBLIC;
