-- The registration process manager (domain.md section 3.7) and the
-- handlers that turn events into commands (section 3.8): SeatCreated /
-- SeatUpdated -> AddSeats / RemoveSeats, OrderConfirmed -> seat assignments.
--
-- Each is a projection (src/projection/runner.c): the worker or
-- cqrs.drain() passes it the events in global order, and its state rows,
-- the commands it enqueues and its checkpoint commit in one transaction,
-- so every event takes effect exactly once.  Commands are enqueued
-- (cqrs.enqueue) with deterministic ids (name-based on the process id and
-- the step), so a replayed handler can never send a command twice: the
-- command log returns the original.  The same drain step then handles the
-- enqueued commands, each in its own subtransaction, so a command that
-- fails is recorded on the command and never stops the process manager.
-- See docs/worker.md.

-- ---------------------------------------------------------------------
-- Registration processes
-- ---------------------------------------------------------------------

CREATE TABLE conference.registration_processes (
    id uuid PRIMARY KEY,
    order_id uuid NOT NULL UNIQUE,
    conference_id uuid NOT NULL,
    reservation_id uuid NOT NULL,
    state text NOT NULL CHECK (state IN (
        'not_started',
        'awaiting_reservation_confirmation',
        'reservation_confirmation_received',
        'payment_confirmation_received',
        -- beyond the reference (design.md section 6): a payment completed
        -- after expiry; the seats are being reserved again
        'reacquiring_after_payment',
        -- ... and could not be had: the order needs manual attention
        'needs_attention')),
    completed boolean NOT NULL DEFAULT false,
    seat_reservation_command_id uuid,
    reservation_auto_expiration timestamptz,
    expiration_command_id uuid,
    expired_at timestamptz,
    -- the payment that completed after expiry, and the seats asked for again
    late_payment_id uuid,
    reacquire_seats jsonb,
    -- the last message the process could not handle at its stage (the
    -- reference threw InvalidOperationException; here the message is kept
    -- and the process manager carries on with the other orders)
    last_warning text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 70);

CREATE INDEX registration_processes_reservation_idx
    ON conference.registration_processes (reservation_id);
CREATE INDEX registration_processes_open_idx
    ON conference.registration_processes (completed) WHERE NOT completed;

COMMENT ON TABLE conference.registration_processes IS
    'RegistrationProcessManager state, one row per order (id = cqrs.derived_stream_id(''RegistrationProcess'', order_id))';

-- The state is not derivable from the log alone (its decisions depend on
-- the clock), so it is dumped with the command log.
SELECT pg_catalog.pg_extension_config_dump('conference.registration_processes', '');

-- A command id that a replay reproduces: name-based on the process and step.
CREATE FUNCTION conference.pm_command_id(process_id uuid, step text)
    RETURNS uuid
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT cqrs.derived_stream_id('RegistrationProcess/' || step, process_id) $$;

CREATE FUNCTION conference.pm_warn(process_id uuid, message text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE conference.registration_processes
       SET last_warning = message, updated_at = now()
     WHERE id = process_id;
    RAISE LOG 'cqrs_conf registration process %: %', process_id, message;
END
$$;

-- OrderPlaced: start the process (once per order).
CREATE FUNCTION conference.pm_on_order_placed(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p conference.registration_processes;
    pid uuid := cqrs.derived_stream_id('RegistrationProcess', e.stream_id);
    conf uuid := (e.data->>'conferenceId')::uuid;
    expires timestamptz := (e.data->>'reservationAutoExpiration')::timestamptz;
    reserve_id uuid;
    expire_id uuid;
BEGIN
    SELECT * INTO p FROM conference.registration_processes
     WHERE order_id = e.stream_id FOR UPDATE;
    IF FOUND THEN
        -- re-delivery: never a second process
        IF p.conference_id <> conf THEN
            PERFORM conference.pm_warn(p.id,
                format('OrderPlaced at position %s names conference %s, the process has %s',
                       e.global_position, conf, p.conference_id));
        END IF;
        RETURN;
    END IF;

    IF expires <= now() THEN
        -- placed already expired: reject at once (the state stays not_started)
        INSERT INTO conference.registration_processes
            (id, order_id, conference_id, reservation_id, state, completed,
             reservation_auto_expiration, expired_at)
        VALUES (pid, e.stream_id, conf, e.stream_id, 'not_started', true,
                expires, now());
        PERFORM cqrs.enqueue('RejectOrder', jsonb_build_object('orderId', e.stream_id),
                             conference.pm_command_id(pid, 'RejectOrder'));
        RETURN;
    END IF;

    reserve_id := conference.pm_command_id(pid, 'MakeSeatReservation/' || e.version);
    expire_id := conference.pm_command_id(pid, 'ExpireRegistrationProcess');
    INSERT INTO conference.registration_processes
        (id, order_id, conference_id, reservation_id, state,
         seat_reservation_command_id, reservation_auto_expiration,
         expiration_command_id)
    VALUES (pid, e.stream_id, conf, e.stream_id,
            'awaiting_reservation_confirmation', reserve_id, expires, expire_id);
    PERFORM cqrs.enqueue('MakeSeatReservation',
                         jsonb_build_object('conferenceId', conf,
                                            'reservationId', e.stream_id,
                                            'seats', e.data->'seats'),
                         reserve_id);
    -- the reference's Delay = window + 14 min, window = expiry - now
    PERFORM cqrs.enqueue('ExpireRegistrationProcess',
                         jsonb_build_object('processId', pid), expire_id,
                         expires + current_setting('cqrs_conf.pm_expiration_buffer')::interval);
END
$$;

-- OrderUpdated: reserve the new seats (the deadline is not extended).
CREATE FUNCTION conference.pm_on_order_updated(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p conference.registration_processes;
    reserve_id uuid;
BEGIN
    SELECT * INTO p FROM conference.registration_processes
     WHERE order_id = e.stream_id AND NOT completed FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p.state NOT IN ('awaiting_reservation_confirmation',
                       'reservation_confirmation_received') THEN
        PERFORM conference.pm_warn(p.id, 'The order cannot be updated at this stage.');
        RETURN;
    END IF;
    reserve_id := conference.pm_command_id(p.id, 'MakeSeatReservation/' || e.version);
    UPDATE conference.registration_processes
       SET state = 'awaiting_reservation_confirmation',
           seat_reservation_command_id = reserve_id, updated_at = now()
     WHERE id = p.id;
    PERFORM cqrs.enqueue('MakeSeatReservation',
                         jsonb_build_object('conferenceId', p.conference_id,
                                            'reservationId', p.reservation_id,
                                            'seats', e.data->'seats'),
                         reserve_id);
END
$$;

-- Did a reservation get every seat asked for?
CREATE FUNCTION conference.pm_fully_reserved(wanted jsonb, granted jsonb)
    RETURNS boolean
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(coalesce(wanted, '[]')) w
         WHERE (w->>'quantity')::int > 0
           AND coalesce((SELECT max((g->>'quantity')::int)
                           FROM jsonb_array_elements(coalesce(granted, '[]')) g
                          WHERE g->>'seatType' = w->>'seatType'), 0)
               < (w->>'quantity')::int)
$$;

-- SeatsReserved (SeatsAvailability stream): correlated with the last
-- MakeSeatReservation through metadata.correlationId.
CREATE FUNCTION conference.pm_on_seats_reserved(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p conference.registration_processes;
    correlation uuid := (e.metadata->>'correlationId')::uuid;
BEGIN
    -- the router: non-completed first, then any; a completed match is a no-op
    SELECT * INTO p FROM conference.registration_processes
     WHERE reservation_id = (e.data->>'reservationId')::uuid
     ORDER BY completed LIMIT 1 FOR UPDATE;
    IF NOT FOUND OR p.completed THEN
        RETURN;
    END IF;

    IF p.state = 'awaiting_reservation_confirmation' THEN
        IF correlation IS NOT NULL AND correlation <> p.seat_reservation_command_id THEN
            RETURN;             -- a stale reply to an earlier request
        END IF;
        UPDATE conference.registration_processes
           SET state = 'reservation_confirmation_received', updated_at = now()
         WHERE id = p.id;
        PERFORM cqrs.enqueue('MarkSeatsAsReserved',
                             jsonb_build_object('orderId', p.order_id,
                                                'seats', e.data->'reservationDetails',
                                                'expiration', p.reservation_auto_expiration),
                             conference.pm_command_id(p.id, 'MarkSeatsAsReserved/' || e.event_id));
    ELSIF p.state = 'reacquiring_after_payment' THEN
        IF correlation IS DISTINCT FROM p.seat_reservation_command_id THEN
            RETURN;
        END IF;
        IF conference.pm_fully_reserved(p.reacquire_seats, e.data->'reservationDetails') THEN
            -- the same seats again: the paid order is confirmed after all
            UPDATE conference.registration_processes
               SET state = 'payment_confirmation_received', updated_at = now()
             WHERE id = p.id;
            PERFORM cqrs.enqueue('ConfirmPaidOrder',
                                 jsonb_build_object('orderId', p.order_id,
                                                    'paymentId', p.late_payment_id),
                                 conference.pm_command_id(p.id, 'ConfirmPaidOrder'));
        ELSE
            -- not all of them: give back what was got, and flag the order
            UPDATE conference.registration_processes
               SET state = 'needs_attention', completed = true, updated_at = now()
             WHERE id = p.id;
            PERFORM cqrs.enqueue('CancelSeatReservation',
                                 jsonb_build_object('conferenceId', p.conference_id,
                                                    'reservationId', p.reservation_id),
                                 conference.pm_command_id(p.id, 'CancelSeatReservation/afterPayment'));
            PERFORM cqrs.enqueue('MarkOrderNeedsAttention',
                                 jsonb_build_object('orderId', p.order_id,
                                                    'paymentId', p.late_payment_id,
                                                    'reason', 'The payment completed after the reservation expired and the seats could not be reserved again.'),
                                 conference.pm_command_id(p.id, 'MarkOrderNeedsAttention'));
        END IF;
    ELSIF correlation IS DISTINCT FROM p.seat_reservation_command_id THEN
        PERFORM conference.pm_warn(p.id, 'Cannot handle seat reservation at this stage.');
    END IF;                     -- else a duplicate: ignored
END
$$;

-- PaymentCompleted (payment stream; paymentSourceId = the order).
CREATE FUNCTION conference.pm_on_payment_completed(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p conference.registration_processes;
    ord jsonb;
    seats jsonb;
    reserve_id uuid;
BEGIN
    SELECT * INTO p FROM conference.registration_processes
     WHERE order_id = (e.data->>'paymentSourceId')::uuid FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    IF NOT p.completed THEN
        IF p.state = 'reservation_confirmation_received' THEN
            UPDATE conference.registration_processes
               SET state = 'payment_confirmation_received', updated_at = now()
             WHERE id = p.id;
            PERFORM cqrs.enqueue('ConfirmOrder', jsonb_build_object('orderId', p.order_id),
                                 conference.pm_command_id(p.id, 'ConfirmOrder'));
        ELSE
            PERFORM conference.pm_warn(p.id, 'Cannot handle payment confirmation at this stage.');
        END IF;
        RETURN;
    END IF;

    -- Payment after expiry (design.md section 6): the reference lost it;
    -- here the seats are reserved again if they can be, else the order is
    -- flagged for manual attention.  Only once, for the first such payment.
    IF p.expired_at IS NULL OR p.late_payment_id IS NOT NULL THEN
        RETURN;
    END IF;
    ord := cqrs.load(p.order_id)->'state';
    IF ord IS NULL OR (ord->>'isConfirmed')::boolean THEN
        RETURN;
    END IF;
    SELECT coalesce(jsonb_agg(s), '[]') INTO seats
      FROM jsonb_array_elements(ord->'seats') s
     WHERE (s->>'quantity')::int > 0;
    reserve_id := conference.pm_command_id(p.id, 'MakeSeatReservation/afterPayment');
    UPDATE conference.registration_processes
       SET state = 'reacquiring_after_payment', completed = false,
           late_payment_id = e.stream_id, reacquire_seats = seats,
           seat_reservation_command_id = reserve_id, updated_at = now()
     WHERE id = p.id;
    PERFORM cqrs.enqueue('MakeSeatReservation',
                         jsonb_build_object('conferenceId', p.conference_id,
                                            'reservationId', p.reservation_id,
                                            'seats', seats),
                         reserve_id);
END
$$;

-- OrderConfirmed: commit the seats; the process is done.
CREATE FUNCTION conference.pm_on_order_confirmed(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p conference.registration_processes;
BEGIN
    SELECT * INTO p FROM conference.registration_processes
     WHERE order_id = e.stream_id AND NOT completed FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p.state NOT IN ('reservation_confirmation_received',
                       'payment_confirmation_received') THEN
        PERFORM conference.pm_warn(p.id, 'Cannot handle order confirmation at this stage.');
        RETURN;
    END IF;
    UPDATE conference.registration_processes
       SET expiration_command_id = NULL, completed = true, updated_at = now()
     WHERE id = p.id;
    PERFORM cqrs.enqueue('CommitSeatReservation',
                         jsonb_build_object('conferenceId', p.conference_id,
                                            'reservationId', p.reservation_id),
                         conference.pm_command_id(p.id, 'CommitSeatReservation'));
END
$$;

-- The projection handler.
CREATE FUNCTION conference.registration_process_handle(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    CASE e.event_type
        WHEN 'OrderPlaced' THEN PERFORM conference.pm_on_order_placed(e);
        WHEN 'OrderUpdated' THEN PERFORM conference.pm_on_order_updated(e);
        WHEN 'SeatsReserved' THEN PERFORM conference.pm_on_seats_reserved(e);
        WHEN 'PaymentCompleted' THEN PERFORM conference.pm_on_payment_completed(e);
        WHEN 'OrderConfirmed', 'OrderPaymentConfirmed' THEN
            PERFORM conference.pm_on_order_confirmed(e);
        ELSE NULL;
    END CASE;
END
$$;

-- ExpireRegistrationProcess {processId}, called by the command's handler
-- (src/process/registration_process.c) in the command's transaction.
-- Returns what it did.
CREATE FUNCTION conference.pm_expire(process_id uuid, command_id uuid)
    RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p conference.registration_processes;
BEGIN
    SELECT * INTO p FROM conference.registration_processes
     WHERE id = process_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'no such process';
    END IF;
    IF p.expiration_command_id IS DISTINCT FROM command_id THEN
        RETURN 'ignored: no longer relevant';
    END IF;
    IF p.state = 'payment_confirmation_received' THEN
        -- the reference's race: the payment is in and ConfirmOrder was
        -- enqueued before this timer; expiring now would leave a paid
        -- order expired or a confirmed order without seats
        PERFORM conference.pm_warn(p.id, 'Expiry ignored: the payment has been received.');
        RETURN 'ignored: payment received';
    END IF;
    UPDATE conference.registration_processes
       SET completed = true, expired_at = now(), updated_at = now()
     WHERE id = p.id;
    PERFORM cqrs.enqueue('RejectOrder', jsonb_build_object('orderId', p.order_id),
                         conference.pm_command_id(p.id, 'RejectOrder'));
    PERFORM cqrs.enqueue('CancelSeatReservation',
                         jsonb_build_object('conferenceId', p.conference_id,
                                            'reservationId', p.reservation_id),
                         conference.pm_command_id(p.id, 'CancelSeatReservation'));
    RETURN 'expired';
END
$$;

-- ---------------------------------------------------------------------
-- SeatCreated / SeatUpdated -> AddSeats / RemoveSeats
-- (the reference's ConferenceViewModelGenerator, section 3.8)
-- ---------------------------------------------------------------------

-- The quantity of each seat type already announced to SeatsAvailability.
CREATE TABLE conference.seat_availability_quantities (
    seat_type_id uuid PRIMARY KEY,
    conference_id uuid NOT NULL,
    quantity integer NOT NULL,
    updated_position bigint NOT NULL
);

COMMENT ON TABLE conference.seat_availability_quantities IS
    'Seat quantities sent to SeatsAvailability (AddSeats / RemoveSeats) per seat type; state of the seat_availability_commands handler';

SELECT pg_catalog.pg_extension_config_dump('conference.seat_availability_quantities', '');

CREATE FUNCTION conference.seat_availability_commands_handle(e cqrs.event)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    conf uuid := (e.data->>'conferenceId')::uuid;
    qty integer := (e.data->>'quantity')::integer;
    old_qty integer;
    old_position bigint;
    diff integer;
BEGIN
    SELECT quantity, updated_position INTO old_qty, old_position
      FROM conference.seat_availability_quantities
     WHERE seat_type_id = e.stream_id FOR UPDATE;
    IF NOT FOUND THEN
        -- SeatCreated (or a SeatUpdated whose SeatCreated this handler
        -- never saw): announce the whole quantity, even 0, so the seat
        -- type exists in SeatsAvailability
        INSERT INTO conference.seat_availability_quantities
        VALUES (e.stream_id, conf, qty, e.global_position);
        PERFORM cqrs.enqueue('AddSeats',
                             jsonb_build_object('conferenceId', conf,
                                                'seatType', e.stream_id,
                                                'quantity', qty),
                             cqrs.derived_stream_id('AddSeats', e.event_id));
        RETURN;
    END IF;
    IF e.event_type = 'SeatCreated' OR e.global_position <= old_position THEN
        RETURN;                 -- re-delivery: ignore
    END IF;
    diff := qty - old_qty;
    IF diff = 0 THEN
        RETURN;                 -- design.md section 6: nothing to send
    END IF;
    UPDATE conference.seat_availability_quantities
       SET quantity = qty, updated_position = e.global_position
     WHERE seat_type_id = e.stream_id;
    PERFORM cqrs.enqueue(CASE WHEN diff > 0 THEN 'AddSeats' ELSE 'RemoveSeats' END,
                         jsonb_build_object('conferenceId', conf,
                                            'seatType', e.stream_id,
                                            'quantity', abs(diff)),
                         cqrs.derived_stream_id('SeatQuantityChange', e.event_id));
END
$$;

-- ---------------------------------------------------------------------
-- OrderConfirmed -> SeatAssignments (SeatAssignmentsHandler, section 3.6)
-- ---------------------------------------------------------------------

-- CreateSeatAssignments is idempotent itself (the assignments live at
-- cqrs.derived_stream_id('SeatAssignments', order_id)); the command id is
-- per order, so a second OrderConfirmed is not even a second command.
CREATE FUNCTION conference.seat_assignments_creator_handle(e cqrs.event)
    RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT cqrs.enqueue('CreateSeatAssignments',
                        jsonb_build_object('orderId', e.stream_id),
                        cqrs.derived_stream_id('CreateSeatAssignments', e.stream_id));
$$;

-- ---------------------------------------------------------------------
-- Registration (internal: the install script creates them; not dumped)
-- ---------------------------------------------------------------------

SELECT cqrs.register_projection('registration_process_manager',
    'conference.registration_process_handle(cqrs.event)',
    ARRAY['OrderPlaced', 'OrderUpdated', 'SeatsReserved', 'PaymentCompleted',
          'OrderConfirmed', 'OrderPaymentConfirmed']);
SELECT cqrs.register_projection('seat_availability_commands',
    'conference.seat_availability_commands_handle(cqrs.event)',
    ARRAY['SeatCreated', 'SeatUpdated']);
SELECT cqrs.register_projection('seat_assignments_creator',
    'conference.seat_assignments_creator_handle(cqrs.event)',
    ARRAY['OrderConfirmed', 'OrderPaymentConfirmed']);
UPDATE cqrs.projections SET internal = true
 WHERE name IN ('registration_process_manager', 'seat_availability_commands',
                'seat_assignments_creator');

REVOKE ALL ON FUNCTION conference.pm_expire(uuid, uuid),
    conference.registration_process_handle(cqrs.event),
    conference.seat_availability_commands_handle(cqrs.event),
    conference.seat_assignments_creator_handle(cqrs.event),
    conference.pm_warn(uuid, text),
    conference.pm_on_order_placed(cqrs.event),
    conference.pm_on_order_updated(cqrs.event),
    conference.pm_on_seats_reserved(cqrs.event),
    conference.pm_on_payment_completed(cqrs.event),
    conference.pm_on_order_confirmed(cqrs.event) FROM PUBLIC;
