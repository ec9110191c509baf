-- Event store: the append-only event log, global order, snapshots.
-- See docs/event-store.md.  The C functions live in src/store/.

-- The row type every read function returns (the public contract).
CREATE TYPE cqrs.event AS (
    global_position bigint,
    stream_id uuid,
    stream_type text,
    version bigint,
    event_type text,
    data jsonb,
    metadata jsonb,
    event_id uuid,
    recorded_at timestamptz
);

-- The event log.  The first nine columns are cqrs.event; the last two are
-- internal: the top-level transaction that appended the row and the order of
-- the row within that transaction, used by the sequencer to hand out
-- global positions in commit order.  global_position is 0 until the
-- sequencer has seen the appending transaction commit; the sequencer then
-- writes the position into the row in place (docs/global-order.md), which
-- is why it is the first column and NOT NULL.
CREATE TABLE cqrs.events (
    global_position bigint NOT NULL DEFAULT 0,
    stream_id uuid NOT NULL,
    stream_type text NOT NULL,
    version bigint NOT NULL CHECK (version >= 0),
    event_type text NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    event_id uuid NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    append_xid xid8 NOT NULL,
    append_ordinal integer NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (stream_id, version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

COMMENT ON TABLE cqrs.events IS
    'The event log: append-only; global_position is 0 until the sequencer assigns it, once the appending transaction has committed';

-- Global order: dense, gap-free, assigned in commit-visibility order.
-- Readers read positions up to cqrs.last_position() only.
CREATE UNIQUE INDEX events_global_position_key
    ON cqrs.events (global_position) WHERE global_position > 0;

-- The sequencer's work list: events in append order, scanned from the
-- sequencer's horizon.
CREATE INDEX events_append_order_idx
    ON cqrs.events (append_xid, append_ordinal);

-- State of the sequencer; the row lock on it serialises sequencers.  Not
-- dumped: the sequencer reads the last position from the log itself.
CREATE TABLE cqrs.sequencer_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_position bigint NOT NULL DEFAULT 0,
    last_batch_at timestamptz,
    -- Every event appended by a transaction older than this was numbered
    -- or rolled back: the sequencer's work-list scan starts here.
    horizon xid8 NOT NULL DEFAULT '0'
);
INSERT INTO cqrs.sequencer_state DEFAULT VALUES;

-- Aggregate snapshots, taken every cqrs_conf.snapshot_every events.
CREATE TABLE cqrs.snapshots (
    stream_id uuid NOT NULL,
    version bigint NOT NULL,
    stream_type text NOT NULL,
    schema_version integer NOT NULL,
    state jsonb NOT NULL,
    max_recorded_at timestamptz NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, version)
);

COMMENT ON TABLE cqrs.snapshots IS
    'Aggregate state every cqrs_conf.snapshot_every events; an optimisation only, loads give the same result without them';

-- The log and the snapshots belong in pg_dump output.
SELECT pg_catalog.pg_extension_config_dump('cqrs.events', '');
SELECT pg_catalog.pg_extension_config_dump('cqrs.snapshots', '');

-- Append-only: UPDATE, DELETE and TRUNCATE are refused for everyone,
-- including the owner; only the sequencer may fill in global_position.
CREATE FUNCTION cqrs.refuse_event_change() RETURNS trigger
    AS 'MODULE_PATHNAME', 'cqrs_refuse_event_change'
    LANGUAGE C;

CREATE TRIGGER events_append_only_update
    BEFORE UPDATE ON cqrs.events
    FOR EACH STATEMENT EXECUTE FUNCTION cqrs.refuse_event_change();
CREATE TRIGGER events_append_only_delete
    BEFORE DELETE ON cqrs.events
    FOR EACH STATEMENT EXECUTE FUNCTION cqrs.refuse_event_change();
CREATE TRIGGER events_append_only_truncate
    BEFORE TRUNCATE ON cqrs.events
    FOR EACH STATEMENT EXECUTE FUNCTION cqrs.refuse_event_change();
ALTER TABLE cqrs.events ENABLE ALWAYS TRIGGER events_append_only_update;
ALTER TABLE cqrs.events ENABLE ALWAYS TRIGGER events_append_only_delete;
ALTER TABLE cqrs.events ENABLE ALWAYS TRIGGER events_append_only_truncate;

-- Writing.
CREATE FUNCTION cqrs.append(stream_id uuid, stream_type text,
                            expected_version bigint, events jsonb)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'cqrs_append'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION cqrs.append(uuid, text, bigint, jsonb) IS
    'Append a JSON array of events to a stream with an optimistic version check; returns the new stream version';

-- Reading.  Plain SQL so the planner inlines them: a read costs what the
-- equivalent SELECT costs.  They run with the caller's rights, so reading
-- needs SELECT on cqrs.events (see docs/security.md).
CREATE FUNCTION cqrs.read_stream(stream_id uuid, from_version bigint DEFAULT 0,
                                 max_count integer DEFAULT NULL)
    RETURNS SETOF cqrs.event
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT nullif(e.global_position, 0), e.stream_id, e.stream_type, e.version,
           e.event_type, e.data, e.metadata, e.event_id, e.recorded_at
      FROM cqrs.events e
     WHERE e.stream_id = $1 AND e.version >= $2
     ORDER BY e.version
     LIMIT $3
$$;

COMMENT ON FUNCTION cqrs.read_stream(uuid, bigint, integer) IS
    'Events of one stream in version order, from from_version, at most max_count (NULL: all); global_position is NULL until assigned';

-- The highest readable global position: every event up to it has its
-- position and is visible.  Positions are written into the rows before the
-- sequencer's transaction commits (docs/global-order.md), so readers of the
-- global order stop here.
CREATE FUNCTION cqrs.last_position()
    RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT s.last_position FROM cqrs.sequencer_state s
$$;

COMMENT ON FUNCTION cqrs.last_position() IS
    'The highest global position readers may read: every event up to it has its position';

CREATE FUNCTION cqrs.read_all(after_position bigint DEFAULT 0,
                              max_count integer DEFAULT 1000)
    RETURNS SETOF cqrs.event
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT e.global_position, e.stream_id, e.stream_type, e.version,
           e.event_type, e.data, e.metadata, e.event_id, e.recorded_at
      FROM cqrs.events e
     WHERE e.global_position > $1
       AND e.global_position > 0
       AND e.global_position <= (SELECT cqrs.last_position())
     ORDER BY e.global_position
     LIMIT $2
$$;

COMMENT ON FUNCTION cqrs.read_all(bigint, integer) IS
    'Sequenced events in global order with a position greater than after_position';

CREATE FUNCTION cqrs.stream_version(stream_id uuid)
    RETURNS bigint
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$
    SELECT coalesce(max(e.version), -1) FROM cqrs.events e WHERE e.stream_id = $1
$$;

COMMENT ON FUNCTION cqrs.stream_version(uuid) IS
    'Current version of a stream (0-based), -1 when it does not exist';

CREATE FUNCTION cqrs.load(stream_id uuid, as_of timestamptz DEFAULT NULL)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cqrs_load'
    LANGUAGE C STABLE PARALLEL UNSAFE;

COMMENT ON FUNCTION cqrs.load(uuid, timestamptz) IS
    'Aggregate state folded in C from the latest snapshot and the tail; with as_of, the state as it was then';

CREATE FUNCTION cqrs.derived_stream_id(stream_type text, source_id uuid)
    RETURNS uuid
    AS 'MODULE_PATHNAME', 'cqrs_derived_stream_id'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION cqrs.derived_stream_id(text, uuid) IS
    'Name-based (version 5) uuid of the stream of type stream_type that belongs to source_id';

-- Global order: the sequencer, and the status view that shows it.
CREATE FUNCTION cqrs.sequence_events(max_count integer DEFAULT 10000)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'cqrs_sequence_events'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off;

COMMENT ON FUNCTION cqrs.sequence_events(integer) IS
    'Give global positions to at most max_count committed events; returns how many became readable (cqrs.drain does this and more)';

CREATE FUNCTION cqrs.drain(as_of timestamptz DEFAULT now())
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'cqrs_drain'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off;

COMMENT ON FUNCTION cqrs.drain(timestamptz) IS
    'Do synchronously everything the background worker does, until nothing is left; returns the number of items processed';

CREATE VIEW cqrs.sequencer_status AS
SELECT s.last_position,
       s.last_batch_at,
       (SELECT count(*) FROM cqrs.events e
         WHERE e.global_position = 0
           AND e.append_xid >= s.horizon
           AND e.append_xid <= greatest(pg_snapshot_xmax(pg_current_snapshot()),
                                        pg_current_xact_id_if_assigned()))
           AS unsequenced_events
  FROM cqrs.sequencer_state s;

COMMENT ON VIEW cqrs.sequencer_status IS
    'Highest global position handed out, and committed events still waiting for one';

-- Sessions whose open transactions have appended events that nobody can
-- read yet.  They delay only their own events.
CREATE VIEW cqrs.open_appends AS
SELECT a.pid, a.usename, a.state, a.xact_start,
       now() - a.xact_start AS xact_age,
       a.backend_xid
  FROM pg_catalog.pg_stat_activity a
 WHERE a.backend_xid IS NOT NULL
   AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.pid = a.pid AND l.locktype = 'advisory'
                  AND l.objsubid = 17233);

COMMENT ON VIEW cqrs.open_appends IS
    'Sessions holding stream locks in an open transaction: their events become readable when they commit';

-- Rights: writing functions are SECURITY DEFINER and not executable by
-- PUBLIC; the DBA grants them (docs/security.md).  Reading runs with the
-- caller's rights and needs SELECT on cqrs.events.
REVOKE ALL ON FUNCTION cqrs.append(uuid, text, bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION cqrs.sequence_events(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION cqrs.drain(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION cqrs.refuse_event_change() FROM PUBLIC;
