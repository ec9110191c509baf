-- Commands: cqrs.send / cqrs.enqueue / cqrs.command_status and the command
-- log.  See docs/commands.md.  The C functions live in src/command/.

-- The outcome of a command (the public contract).
CREATE TYPE cqrs.command_result AS (
    command_id uuid,
    status text,
    stream_id uuid,
    version bigint,
    events jsonb,
    reason text
);

COMMENT ON TYPE cqrs.command_result IS
    'Outcome of a command: status accepted, rejected or pending; the stream it targeted, its version after the command, the events appended, the rejection reason';

-- The command log: every command, its payload and its outcome.  A command
-- id is handled at most once; sending it again returns the logged result.
-- Enqueued commands wait here (status pending) until the worker or
-- cqrs.drain() handles them, at once or when due_at has come.
CREATE TABLE cqrs.commands (
    command_id uuid NOT NULL,
    command_type text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL,
    stream_id uuid,
    version bigint,
    event_count integer NOT NULL DEFAULT 0,
    reason text,
    origin text NOT NULL DEFAULT 'send',
    seq bigint GENERATED ALWAYS AS IDENTITY,
    received_at timestamptz NOT NULL DEFAULT now(),
    due_at timestamptz,
    handled_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    CONSTRAINT commands_pkey PRIMARY KEY (command_id),
    CONSTRAINT commands_status_check
        CHECK (status IN ('pending', 'accepted', 'rejected')),
    CONSTRAINT commands_origin_check CHECK (origin IN ('send', 'enqueue')),
    CONSTRAINT commands_handled_check
        CHECK ((status = 'pending') = (handled_at IS NULL))
);

-- The worker's work list: pending commands in the order they fall due,
-- enqueued ones (no due time) first.  On an expression with no NULLs, so
-- "due at or before now" is an index range: a step reads only what is due,
-- not every timer that waits for later.
CREATE INDEX commands_pending_idx
    ON cqrs.commands ((coalesce(due_at, '-infinity'::timestamptz)), seq)
    WHERE status = 'pending';

COMMENT ON TABLE cqrs.commands IS
    'Command log: every command sent or enqueued, its payload and its outcome; the primary key makes each command id take effect once';
COMMENT ON COLUMN cqrs.commands.event_count IS
    'How many events the command appended: versions version - event_count + 1 .. version of stream_id (the events themselves stay in cqrs.events only; cqrs.command_status returns them)';
COMMENT ON COLUMN cqrs.commands.due_at IS
    'Enqueued commands only: not handled before this time (NULL: at once); cqrs.drain(as_of) handles those due at or before as_of';
COMMENT ON COLUMN cqrs.commands.attempts IS
    'Handling attempts of an enqueued command; transient failures (SQLSTATE class 40) are retried up to 3 times';

SELECT pg_catalog.pg_extension_config_dump('cqrs.commands', '');

CREATE FUNCTION cqrs.send(command_type text, payload jsonb,
                          command_id uuid DEFAULT NULL)
    RETURNS cqrs.command_result
    AS 'MODULE_PATHNAME', 'cqrs_send'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION cqrs.send(text, jsonb, uuid) IS
    'Handle a command now, in this transaction: validate, load the aggregate (locked), decide, append, log; a command id seen before returns the original result';

CREATE FUNCTION cqrs.enqueue(command_type text, payload jsonb,
                             command_id uuid DEFAULT NULL,
                             not_before timestamptz DEFAULT NULL)
    RETURNS uuid
    AS 'MODULE_PATHNAME', 'cqrs_enqueue'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION cqrs.enqueue(text, jsonb, uuid, timestamptz) IS
    'Validate a command and store it for the worker (or cqrs.drain()) to handle, at once or not before not_before; returns its id';

-- The events a logged command appended, as cqrs.send returned them: the
-- log keeps their number, not a second copy (they are the stream's versions
-- version - event_count + 1 .. version, and events are never changed or
-- removed).  Used by cqrs.command_status and by cqrs.send for a command id
-- it has seen before.
CREATE FUNCTION cqrs.command_events(stream_id uuid, version bigint,
                                    event_count integer)
    RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('streamId', e.stream_id,
                                                 'version', e.version,
                                                 'type', e.event_type,
                                                 'data', e.data)
                              ORDER BY e.version), '[]'::jsonb)
      FROM cqrs.events e
     WHERE e.stream_id = $1
       AND e.version > $2 - $3 AND e.version <= $2
$$;

COMMENT ON FUNCTION cqrs.command_events(uuid, bigint, integer) IS
    'The events of a logged command (stream_id, version and event_count of its cqrs.commands row), as cqrs.send returned them';

CREATE FUNCTION cqrs.command_status(command_id uuid)
    RETURNS cqrs.command_result
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT c.command_id, c.status, c.stream_id, c.version,
           cqrs.command_events(c.stream_id, c.version, c.event_count),
           c.reason
      FROM cqrs.commands c
     WHERE c.command_id = $1
$$;

COMMENT ON FUNCTION cqrs.command_status(uuid) IS
    'The outcome of a sent or enqueued command (status pending until handled); NULL for an unknown id';

-- Rights: like cqrs.append, the command functions are SECURITY DEFINER and
-- not executable by PUBLIC; the DBA grants them to the application's role
-- (docs/security.md).  The command log holds payloads with personal data.
REVOKE ALL ON FUNCTION cqrs.send(text, jsonb, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION cqrs.enqueue(text, jsonb, uuid, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION cqrs.command_status(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION cqrs.command_events(uuid, bigint, integer) FROM PUBLIC;
