-- Projections: event handlers that keep read models current.  Each has a
-- checkpoint (the last global position it applied), updated in the same
-- transaction as the handler's writes, so every event takes effect exactly
-- once, whatever crashes.  Run by the background worker and cqrs.drain().
-- See docs/projections.md.

CREATE TABLE cqrs.projections (
    name text PRIMARY KEY CHECK (name <> ''),
    handler regprocedure NOT NULL,
    event_types text[],
    position bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    state text NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'stopped', 'failed')),
    applied_events bigint NOT NULL DEFAULT 0,
    last_error text,
    last_error_sqlstate text,
    error_position bigint,
    failed_at timestamptz,
    registered_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz,
    -- the schema of the projection's read-model tables: the runner sets
    -- search_path to it around the handler, so the handler names its
    -- tables unqualified and a rebuild can point it at a shadow schema
    schema_name name,
    -- the read-model tables (in schema_name) that the projection owns;
    -- what cqrs.rebuild_projection rebuilds and cqrs.verify_projection compares
    tables text[],
    -- optional set-based loader for rebuilds: f(up_to bigint) returns
    -- bigint fills the projection's (empty) tables, under the same
    -- search_path as the handler, with the state the handler would have
    -- after every sequenced event at positions <= up_to, and returns the
    -- position it loaded up to (<= up_to; the handler goes on from there)
    bulk_loader regprocedure,
    -- set on the shadow row of a rebuild in progress: the projection it rebuilds
    rebuild_of text,
    -- on a shadow row: the position its bulk loader reached (NULL: none ran)
    bulk_position bigint,
    last_rebuilt_at timestamptz,
    -- one of the extension's own read models (registered by its install
    -- script, not dumped: see below)
    internal boolean NOT NULL DEFAULT false,
    -- the checkpoint is the greater of position and the projection horizon
    -- (cqrs.projection_horizon): set by the runner, cleared (with position
    -- made the greater of the two) by any other update of the row
    at_horizon boolean NOT NULL DEFAULT false,
    CHECK (tables IS NULL OR schema_name IS NOT NULL)
);

COMMENT ON TABLE cqrs.projections IS
    'Registered projections: handler, checkpoint, state and the error that stopped one';

-- Dumped: the projections that applications registered (their read-model
-- tables are ordinary tables, dumped with them).  The extension's own read
-- models (internal) are extension tables whose rows are not dumped; after a
-- restore their projections start again at position 0 (the install script
-- registers them) and the worker replays the log into them.
SELECT pg_catalog.pg_extension_config_dump('cqrs.projections',
    'WHERE NOT internal AND rebuild_of IS NULL');

-- The projection horizon: every projection whose row has at_horizon has
-- applied every event of its types up to this position, so its checkpoint
-- is the greater of the two.  A runner pass over events that none of the
-- idle projections handles moves this one row instead of a checkpoint per
-- projection (src/projection/horizon.c, docs/projections.md).  Not dumped:
-- after a restore it starts at 0 and the checkpoints fall back to the
-- rows' positions, which is safe (the events in between are of types those
-- projections do not handle).
CREATE TABLE cqrs.projection_horizon (
    position bigint NOT NULL
);
CREATE UNIQUE INDEX projection_horizon_one_row ON cqrs.projection_horizon ((true));
INSERT INTO cqrs.projection_horizon VALUES (0);

COMMENT ON TABLE cqrs.projection_horizon IS
    'Position up to which every projection marked at_horizon has applied the events of its types';

-- A projection's checkpoint (the last position it has applied).
CREATE FUNCTION cqrs.projection_checkpoint(row_position bigint, row_at_horizon boolean)
    RETURNS bigint
    LANGUAGE sql STABLE
    AS $$
    SELECT CASE WHEN $2 THEN GREATEST($1, (SELECT h.position FROM cqrs.projection_horizon h))
                ELSE $1 END
$$;

COMMENT ON FUNCTION cqrs.projection_checkpoint(bigint, boolean) IS
    'Internal: the checkpoint of a projection row (position, or the projection horizon when at_horizon and greater)';

-- Any update of a row at the horizon other than the runner's own takes it
-- off the horizon, with the checkpoint it had (unless the update sets a
-- position itself): a stop, resume, re-registration, rebuild swap or a
-- DBA's UPDATE then sees and keeps the position the projection reached.
-- Only the runner puts a row at the horizon.
CREATE FUNCTION cqrs.projection_leaves_horizon()
    RETURNS trigger
    AS 'MODULE_PATHNAME', 'cqrs_projection_leaves_horizon'
    LANGUAGE C;

CREATE TRIGGER projections_leave_horizon
    BEFORE UPDATE ON cqrs.projections
    FOR EACH ROW WHEN (OLD.at_horizon OR NEW.at_horizon)
    EXECUTE FUNCTION cqrs.projection_leaves_horizon();

CREATE TRIGGER projections_insert_off_horizon
    BEFORE INSERT ON cqrs.projections
    FOR EACH ROW WHEN (NEW.at_horizon)
    EXECUTE FUNCTION cqrs.projection_leaves_horizon();

CREATE FUNCTION cqrs.register_projection(name text, handler regprocedure,
                                         event_types text[] DEFAULT NULL,
                                         from_position bigint DEFAULT 0,
                                         schema_name name DEFAULT NULL,
                                         tables text[] DEFAULT NULL,
                                         bulk_loader regprocedure DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    h pg_proc;
BEGIN
    IF name IS NULL OR handler IS NULL THEN
        RAISE EXCEPTION 'name and handler must not be null' USING ERRCODE = '23502';
    END IF;
    SELECT * INTO h FROM pg_proc WHERE oid = handler;
    IF h.pronargs <> 1 OR h.proargtypes[0] <> 'cqrs.event'::regtype THEN
        RAISE EXCEPTION 'projection handler % must take one argument of type cqrs.event', handler
            USING ERRCODE = '42P13';
    END IF;
    IF tables IS NOT NULL AND schema_name IS NULL THEN
        RAISE EXCEPTION 'a projection with tables needs schema_name' USING ERRCODE = '22023';
    END IF;
    IF bulk_loader IS NOT NULL THEN
        IF tables IS NULL THEN
            RAISE EXCEPTION 'a projection with a bulk loader needs schema_name and tables'
                USING ERRCODE = '22023';
        END IF;
        SELECT * INTO h FROM pg_proc WHERE oid = bulk_loader;
        IF h.pronargs <> 1 OR h.proargtypes[0] <> 'bigint'::regtype
           OR h.prorettype <> 'bigint'::regtype OR h.proretset THEN
            RAISE EXCEPTION 'bulk loader % must take one argument of type bigint and return bigint',
                            bulk_loader
                USING ERRCODE = '42P13';
        END IF;
        IF EXISTS (SELECT 1 FROM unnest(h.proconfig) c WHERE c LIKE 'search\_path=%') THEN
            RAISE EXCEPTION 'bulk loader % must not set its own search_path', bulk_loader
                USING ERRCODE = '42P13',
                      HINT = 'A rebuild points it at the shadow tables through search_path, as it does the handler.';
        END IF;
    END IF;
    INSERT INTO cqrs.projections AS p (name, handler, event_types, position,
                                       schema_name, tables, bulk_loader)
    VALUES (register_projection.name, register_projection.handler,
            register_projection.event_types, coalesce(from_position, 0),
            register_projection.schema_name, register_projection.tables,
            register_projection.bulk_loader)
    ON CONFLICT ON CONSTRAINT projections_pkey DO UPDATE
       SET handler = excluded.handler, event_types = excluded.event_types,
           schema_name = excluded.schema_name, tables = excluded.tables,
           bulk_loader = excluded.bulk_loader;
END
$$;

COMMENT ON FUNCTION cqrs.register_projection(text, regprocedure, text[], bigint, name, text[], regprocedure) IS
    'Register (or update) a projection: handler(cqrs.event) is called once per event of the listed types, in global order (with search_path = schema_name when given); bulk_loader(up_to bigint) is an optional set-based loader for rebuilds';

-- Resume a projection that a poison event stopped (after fixing the
-- handler or its data), or one stopped by hand.
CREATE FUNCTION cqrs.resume_projection(name text)
    RETURNS void
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    UPDATE cqrs.projections p
       SET state = 'running', last_error = NULL, last_error_sqlstate = NULL,
           error_position = NULL, failed_at = NULL, updated_at = now()
     WHERE p.name = $1
$$;

CREATE FUNCTION cqrs.stop_projection(name text)
    RETURNS void
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    UPDATE cqrs.projections p SET state = 'stopped', updated_at = now()
     WHERE p.name = $1
$$;

CREATE FUNCTION cqrs.run_projection(name text, max_events integer DEFAULT 1000,
                                    up_to bigint DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'cqrs_run_projection_sql'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off;

COMMENT ON FUNCTION cqrs.run_projection(text, integer, bigint) IS
    'Apply at most max_events pending events (at positions <= up_to) to one running projection; returns the number applied';

CREATE FUNCTION cqrs.run_projections(max_events integer DEFAULT 1000)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'cqrs_run_projections_sql'
    LANGUAGE C VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off;

COMMENT ON FUNCTION cqrs.run_projections(integer) IS
    'Apply at most max_events pending events to each running projection once; returns the number applied (cqrs.drain does this and more)';

CREATE VIEW cqrs.projection_status AS
SELECT p.name,
       c.position,
       s.last_position - c.position AS lag_events,
       coalesce(extract(epoch FROM now() - (
           SELECT e.recorded_at FROM cqrs.events e
            WHERE e.global_position = c.position + 1)), 0)::double precision
           AS lag_seconds,
       CASE WHEN p.rebuild_of IS NOT NULL AND p.state = 'running'
            THEN 'rebuilding' ELSE p.state END AS state,
       p.last_error,
       p.last_error_sqlstate,
       p.error_position,
       p.applied_events,
       p.updated_at,
       p.rebuild_of,
       CASE WHEN p.rebuild_of IS NOT NULL
            THEN round(100.0 * c.position / greatest(s.last_position, 1), 1)
       END AS rebuild_percent,
       p.last_rebuilt_at,
       p.schema_name,
       p.tables,
       p.bulk_loader,
       p.bulk_position
  FROM cqrs.projections p CROSS JOIN cqrs.sequencer_state s
       CROSS JOIN LATERAL (SELECT cqrs.projection_checkpoint(p.position, p.at_horizon)
                                  AS position) c;

COMMENT ON VIEW cqrs.projection_status IS
    'Each projection: checkpoint, lag in events and seconds, state, and the error that stopped it';

CREATE FUNCTION cqrs.worker_pid()
    RETURNS integer
    AS 'MODULE_PATHNAME', 'cqrs_worker_pid'
    LANGUAGE C VOLATILE;

COMMENT ON FUNCTION cqrs.worker_pid() IS
    'PID of the background worker connected to this database, NULL when none runs';

-- Read-your-writes for a UI: wait until every running projection has
-- applied every event committed before the call.  When no background
-- worker runs, the caller's session does the work itself.
CREATE FUNCTION cqrs.wait_for_projections(timeout interval DEFAULT '5 s')
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    snap pg_snapshot := pg_current_snapshot();
    deadline timestamptz := clock_timestamp() + coalesce(timeout, '5 s');
    target bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'cqrs.wait_for_projections() needs READ COMMITTED'
            USING ERRCODE = '25000',
                  DETAIL = 'Under a transaction snapshot the progress of the projections is not visible.';
    END IF;
    LOOP
        IF cqrs.worker_pid() IS NULL THEN
            PERFORM cqrs.drain();
        END IF;
        IF target IS NULL
           AND NOT EXISTS (SELECT 1 FROM cqrs.events e
                            WHERE e.global_position = 0
                              AND e.append_xid >= (SELECT s.horizon FROM cqrs.sequencer_state s)
                              AND e.append_xid <= greatest(pg_snapshot_xmax(snap),
                                                           pg_current_xact_id_if_assigned())
                              AND pg_visible_in_snapshot(e.append_xid, snap)) THEN
            SELECT s.last_position INTO target FROM cqrs.sequencer_state s;
        END IF;
        IF target IS NOT NULL THEN
            IF NOT EXISTS (SELECT 1 FROM cqrs.projections p
                            WHERE p.state <> 'stopped' AND p.rebuild_of IS NULL
                              AND cqrs.projection_checkpoint(p.position, p.at_horizon)
                                  < target) THEN
                RETURN true;
            END IF;
            -- a failed projection will not catch up by waiting
            IF EXISTS (SELECT 1 FROM cqrs.projections p
                        WHERE p.state = 'failed' AND p.rebuild_of IS NULL
                          AND cqrs.projection_checkpoint(p.position, p.at_horizon)
                              < target) THEN
                RETURN false;
            END IF;
        END IF;
        IF clock_timestamp() >= deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.005);
    END LOOP;
END
$$;

COMMENT ON FUNCTION cqrs.wait_for_projections(interval) IS
    'Wait until every projection has applied every event committed before the call; false on timeout or when a projection has failed';

REVOKE ALL ON FUNCTION cqrs.register_projection(text, regprocedure, text[], bigint, name, text[], regprocedure),
    cqrs.run_projection(text, integer, bigint),
    cqrs.resume_projection(text), cqrs.stop_projection(text),
    cqrs.run_projections(integer) FROM PUBLIC;
