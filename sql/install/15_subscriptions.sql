-- Durable subscriptions for consumers outside the database: at-least-once,
-- in global order, resumable from the acknowledged position after any
-- crash.  See docs/subscriptions.md.

CREATE TABLE cqrs.subscriptions (
    name text PRIMARY KEY CHECK (name <> ''),
    acked_position bigint NOT NULL DEFAULT 0 CHECK (acked_position >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    acked_at timestamptz,
    last_polled_at timestamptz
);

COMMENT ON TABLE cqrs.subscriptions IS
    'Durable subscriptions: the last global position each consumer acknowledged';

SELECT pg_catalog.pg_extension_config_dump('cqrs.subscriptions', '');

-- Create the subscription if needed; returns its acknowledged position.
CREATE FUNCTION cqrs.subscribe(name text)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pos bigint;
BEGIN
    INSERT INTO cqrs.subscriptions AS s (name) VALUES (subscribe.name)
        ON CONFLICT ON CONSTRAINT subscriptions_pkey DO NOTHING;
    SELECT s.acked_position INTO pos FROM cqrs.subscriptions s
     WHERE s.name = subscribe.name;
    RETURN pos;
END
$$;

COMMENT ON FUNCTION cqrs.subscribe(text) IS
    'Create a durable subscription (idempotent); returns its acknowledged position';

-- The next events after the acknowledged position.  Polling does not move
-- the position: a consumer that crashes before cqrs.ack() gets the same
-- events again (at-least-once).
CREATE FUNCTION cqrs.poll(name text, max_count integer DEFAULT 100)
    RETURNS SETOF cqrs.event
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pos bigint;
BEGIN
    IF max_count < 1 THEN
        RAISE EXCEPTION 'max_count must be positive' USING ERRCODE = '22023';
    END IF;
    UPDATE cqrs.subscriptions s SET last_polled_at = now()
     WHERE s.name = poll.name
     RETURNING s.acked_position INTO pos;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription "%" does not exist', poll.name
            USING ERRCODE = '42704', HINT = 'Create it with cqrs.subscribe().';
    END IF;
    RETURN QUERY
    SELECT e.global_position, e.stream_id, e.stream_type, e.version,
           e.event_type, e.data, e.metadata, e.event_id, e.recorded_at
      FROM cqrs.events e
     WHERE e.global_position > pos
       AND e.global_position > 0
       AND e.global_position <= (SELECT st.last_position FROM cqrs.sequencer_state st)
     ORDER BY e.global_position
     LIMIT max_count;
END
$$;

COMMENT ON FUNCTION cqrs.poll(text, integer) IS
    'Events after the subscription''s acknowledged position, in global order (does not advance it)';

-- Acknowledge everything up to and including position.  Positions only
-- move forward: acknowledging an older position changes nothing.
CREATE FUNCTION cqrs.ack(name text, "position" bigint)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    head bigint;
    pos bigint;
BEGIN
    SELECT st.last_position INTO head FROM cqrs.sequencer_state st;
    IF ack.position < 0 OR ack.position > head THEN
        RAISE EXCEPTION 'cannot acknowledge position % of subscription "%"',
                        ack.position, ack.name
            USING ERRCODE = '22023',
                  DETAIL = format('Positions run from 0 to %s, the last one handed out.', head);
    END IF;
    UPDATE cqrs.subscriptions s
       SET acked_position = greatest(s.acked_position, ack.position),
           acked_at = now()
     WHERE s.name = ack.name
     RETURNING s.acked_position INTO pos;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription "%" does not exist', ack.name
            USING ERRCODE = '42704', HINT = 'Create it with cqrs.subscribe().';
    END IF;
    RETURN pos;
END
$$;

COMMENT ON FUNCTION cqrs.ack(text, bigint) IS
    'Acknowledge events up to position; returns the subscription''s acknowledged position';

CREATE FUNCTION cqrs.unsubscribe(name text)
    RETURNS boolean
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH d AS (DELETE FROM cqrs.subscriptions s WHERE s.name = $1 RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;

CREATE VIEW cqrs.subscription_status AS
SELECT s.name,
       s.acked_position,
       st.last_position - s.acked_position AS lag_events,
       s.acked_at,
       s.last_polled_at
  FROM cqrs.subscriptions s CROSS JOIN cqrs.sequencer_state st;

COMMENT ON VIEW cqrs.subscription_status IS
    'Each durable subscription and how many sequenced events it has not acknowledged';

REVOKE ALL ON FUNCTION cqrs.subscribe(text), cqrs.poll(text, integer),
    cqrs.ack(text, bigint), cqrs.unsubscribe(text) FROM PUBLIC;
