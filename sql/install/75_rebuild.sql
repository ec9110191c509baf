-- Zero-downtime rebuilds and verification of projections that declare their
-- tables (cqrs.projections.schema_name / tables).  See docs/read-models.md.
--
-- A rebuild fills fresh copies of the projection's tables in a shadow
-- schema, while readers keep reading the live tables: the projection's
-- set-based bulk loader (cqrs.projections.bulk_loader, if it has one)
-- loads the log up to the sequencer's position in a few statements, then
-- its own handler replays the rest (the runner sets search_path to the
-- shadow schema for both).  When the copy has
-- caught up, one short transaction locks the live projection, applies the
-- last few events to the copy, moves the live tables out and the copies in
-- (ALTER TABLE ... SET SCHEMA), re-points the views that read them
-- (CREATE OR REPLACE VIEW with the same definition), carries over grants,
-- publications and extension membership, drops the old tables and moves
-- the checkpoint.

-- The schema of a projection's shadow copy ('rebuild' or 'verify').
CREATE FUNCTION cqrs.shadow_schema(projection text, purpose text)
    RETURNS name
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT ('cqrs_' || purpose || '_' || left(md5(projection), 12))::name
$$;

-- Create the shadow schema with empty copies of the projection's tables,
-- and the shadow projection row that replays into them.
CREATE FUNCTION cqrs.create_shadow_projection(projection text, purpose text)
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET client_min_messages = warning
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p cqrs.projections;
    shadow name := cqrs.shadow_schema(projection, purpose);
    shadow_name text := projection || ':' || purpose;
    t text;
    opts text[];
BEGIN
    SELECT * INTO p FROM cqrs.projections WHERE name = projection AND rebuild_of IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'projection "%" does not exist', projection USING ERRCODE = '42704';
    END IF;
    IF p.tables IS NULL OR cardinality(p.tables) = 0 THEN
        RAISE EXCEPTION 'projection "%" declares no read-model tables', projection
            USING ERRCODE = '55000',
                  HINT = 'Register it with schema_name and tables (cqrs.register_projection).';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_proc f, unnest(f.proconfig) c
                WHERE f.oid = p.handler AND c LIKE 'search\_path=%') THEN
        RAISE EXCEPTION 'the handler % of projection "%" sets its own search_path', p.handler, projection
            USING ERRCODE = '55000',
                  HINT = 'A rebuild points the handler at a shadow schema through search_path: name the tables unqualified and do not SET search_path on the handler.';
    END IF;
    IF EXISTS (SELECT 1 FROM cqrs.projections WHERE name = shadow_name) THEN
        RAISE EXCEPTION 'a % of projection "%" is already in progress', purpose, projection
            USING ERRCODE = '55006',
                  HINT = format('Wait for it, or cancel it: SELECT cqrs.cancel_rebuild(%L).', projection);
    END IF;
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', shadow);
    EXECUTE format('CREATE SCHEMA %I', shadow);
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', shadow);
    FOREACH t IN ARRAY p.tables LOOP
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING ALL)',
                       shadow, t, p.schema_name, t);
        -- LIKE copies no storage parameters (fillfactor): copy them too.
        SELECT c.reloptions INTO opts FROM pg_class c
         WHERE c.oid = format('%I.%I', p.schema_name, t)::regclass;
        IF opts IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I.%I SET (%s)', shadow, t, array_to_string(opts, ', '));
        END IF;
    END LOOP;
    INSERT INTO cqrs.projections (name, handler, event_types, position, schema_name,
                                  tables, rebuild_of, internal, updated_at)
    VALUES (shadow_name, p.handler, p.event_types, 0, shadow, p.tables, projection,
            true, now());
    RETURN shadow_name;
END
$$;

-- Move the tables of a finished shadow copy in place of the live ones.
CREATE FUNCTION cqrs.swap_shadow_tables(live_schema name, shadow name, tables text[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET client_min_messages = warning
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    old_schema name := (shadow || '_old')::name;
    t text;
    old_oids oid[];
    v record;
    views text[] := '{}';
    defs text[] := '{}';
    a record;
    i integer;
BEGIN
    SELECT array_agg(format('%I.%I', live_schema, x)::regclass::oid) INTO old_oids
      FROM unnest(tables) x;

    -- Views reading the live tables: their definitions, schema-qualified
    -- (this function's search_path is pg_catalog), to re-create them over
    -- the new tables.  Views over those views keep working unchanged.
    -- (a temporary view of this session is re-created as pg_temp.name; one
    -- of another session cannot be, and stops the swap)
    FOR v IN SELECT DISTINCT
                    CASE WHEN c.relpersistence <> 't' THEN format('%I.%I', n.nspname, c.relname)
                         WHEN n.oid = pg_my_temp_schema() THEN format('pg_temp.%I', c.relname)
                    END AS name,
                    c.oid::regclass::text AS display, c.relkind,
                    pg_get_viewdef(c.oid) AS def
               FROM pg_depend d
               JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
               JOIN pg_class c ON c.oid = r.ev_class
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY (old_oids)
                AND c.oid <> ALL (old_oids)
              ORDER BY 2 LOOP
        IF v.relkind <> 'v' THEN
            RAISE EXCEPTION 'cannot swap the tables of a rebuild: % reads them and is not a plain view', v.display
                USING ERRCODE = '55000';
        END IF;
        IF v.name IS NULL THEN
            RAISE EXCEPTION 'cannot swap the tables of a rebuild: the temporary view % of another session reads them', v.display
                USING ERRCODE = '55006';
        END IF;
        views := views || v.name;
        defs := defs || v.def;
    END LOOP;

    EXECUTE format('CREATE SCHEMA %I', old_schema);
    FOREACH t IN ARRAY tables LOOP
        -- the owner, grants, publications and extension membership of the
        -- live table carry over to its replacement
        FOR a IN SELECT c.relowner::regrole::text AS owner, n.oid IS NOT NULL AS same_owner
                   FROM pg_class c
                   LEFT JOIN pg_class n ON n.oid = format('%I.%I', shadow, t)::regclass
                                       AND n.relowner = c.relowner
                  WHERE c.oid = format('%I.%I', live_schema, t)::regclass LOOP
            IF NOT a.same_owner THEN
                EXECUTE format('ALTER TABLE %I.%I OWNER TO %s', shadow, t, a.owner);
            END IF;
        END LOOP;
        FOR a IN SELECT x.privilege_type, x.is_grantable,
                        CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE x.grantee::regrole::text END AS grantee
                   FROM pg_class c, aclexplode(c.relacl) x
                  WHERE c.oid = format('%I.%I', live_schema, t)::regclass
                    AND x.grantee <> c.relowner LOOP
            EXECUTE format('GRANT %s ON %I.%I TO %s%s', a.privilege_type, shadow, t, a.grantee,
                           CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
        FOR a IN SELECT e.extname
                   FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                  WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = format('%I.%I', live_schema, t)::regclass
                    AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' LOOP
            EXECUTE format('ALTER EXTENSION %I DROP TABLE %I.%I', a.extname, live_schema, t);
            EXECUTE format('ALTER EXTENSION %I ADD TABLE %I.%I', a.extname, shadow, t);
        END LOOP;
        FOR a IN SELECT p.pubname,
                        (SELECT string_agg(quote_ident(att.attname), ', ' ORDER BY att.attnum)
                           FROM pg_attribute att
                          WHERE att.attrelid = pr.prrelid AND att.attnum = ANY (pr.prattrs)) AS cols
                   FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                  WHERE pr.prrelid = format('%I.%I', live_schema, t)::regclass LOOP
            EXECUTE format('ALTER PUBLICATION %I ADD TABLE %I.%I%s', a.pubname, shadow, t,
                           CASE WHEN a.cols IS NULL THEN '' ELSE ' (' || a.cols || ')' END);
        END LOOP;
        EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', live_schema, t, old_schema);
        EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', shadow, t, live_schema);
    END LOOP;

    FOR i IN 1 .. coalesce(array_length(views, 1), 0) LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %s AS %s', views[i], defs[i]);
    END LOOP;

    -- no CASCADE: anything else that still depends on an old table stops
    -- the swap (and the rebuild) with an error instead of vanishing
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('DROP TABLE %I.%I', old_schema, t);
    END LOOP;
    EXECUTE format('DROP SCHEMA %I', old_schema);
    EXECUTE format('DROP SCHEMA %I', shadow);
END
$$;

-- Fill a new shadow copy (at position 0) with the live projection's bulk
-- loader, for the sequenced events at positions <= up_to, and move the
-- shadow's checkpoint to where the loader got; the handler replays the
-- rest.  Returns the number of events of the projection's types loaded (0
-- when the projection has no bulk loader).  A loader that fails leaves the
-- copy empty, with a warning: the handler then replays everything (and
-- stops at a poison event, with its position).
CREATE FUNCTION cqrs.bulk_load_shadow(shadow_name text, up_to bigint)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sh cqrs.projections;
    live cqrs.projections;
    loader text;
    reached bigint;
    n bigint;
BEGIN
    SELECT * INTO sh FROM cqrs.projections
     WHERE name = shadow_name AND rebuild_of IS NOT NULL FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no rebuild or verification named "%" is in progress', shadow_name
            USING ERRCODE = '42704';
    END IF;
    SELECT * INTO live FROM cqrs.projections WHERE name = sh.rebuild_of;
    IF live.bulk_loader IS NULL OR up_to IS NULL OR up_to <= 0 THEN
        RETURN 0;
    END IF;
    IF sh.position <> 0 THEN
        RAISE EXCEPTION 'the copy "%" is at position %: a bulk load needs an empty copy',
                        shadow_name, sh.position
            USING ERRCODE = '55000';
    END IF;
    -- the name as this search_path shows it (schema-qualified)
    loader := live.bulk_loader::oid::regproc::text;
    BEGIN
        -- the loader names its tables unqualified, as the handler does;
        -- its sorts and hashes get room (local to this transaction)
        PERFORM set_config('search_path', format('%I, pg_temp', sh.schema_name), true);
        IF pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('64MB') THEN
            PERFORM set_config('work_mem', '64MB', true);
        END IF;
        EXECUTE format('SELECT %s($1)', loader) INTO reached USING up_to;
        PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
        IF reached IS NULL OR reached < 0 OR reached > up_to THEN
            RAISE EXCEPTION 'bulk loader % returned %, not a position from 0 to %',
                            loader, coalesce(reached::text, 'NULL'), up_to
                USING ERRCODE = '22003';
        END IF;
    EXCEPTION WHEN OTHERS THEN
        -- the subtransaction's rows and settings are gone
        RAISE WARNING 'bulk loader of projection "%" failed: %', live.name, SQLERRM
            USING DETAIL = format('SQLSTATE %s.  The handler replays the log instead.', SQLSTATE);
        RETURN 0;
    END;
    SELECT count(*) INTO n FROM cqrs.events e
     WHERE e.global_position BETWEEN 1 AND reached
       AND (sh.event_types IS NULL OR e.event_type = ANY (sh.event_types));
    UPDATE cqrs.projections
       SET position = reached, applied_events = n, bulk_position = reached, updated_at = now()
     WHERE name = shadow_name;
    RETURN n;
END
$$;

COMMENT ON FUNCTION cqrs.bulk_load_shadow(text, bigint) IS
    'Internal: fill a rebuild''s or verification''s empty copy with the projection''s bulk loader up to a position';

-- Swap a rebuild in once its shadow projection has caught up: under the
-- live projection's row lock, apply the last events to the copy, swap the
-- tables, move the checkpoint.  With wait = false (the runner's call) it
-- gives up (false) when the live projection or a table is busy, and tries
-- again on the runner's next pass.
CREATE FUNCTION cqrs.finish_rebuild(shadow_name text, wait boolean DEFAULT true)
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sh cqrs.projections;
    live cqrs.projections;
    saved_timeout text := current_setting('lock_timeout');
BEGIN
    SELECT * INTO sh FROM cqrs.projections
     WHERE name = shadow_name AND rebuild_of IS NOT NULL FOR UPDATE;
    IF NOT FOUND OR sh.state <> 'running' THEN
        RETURN false;
    END IF;
    IF wait THEN
        SELECT * INTO live FROM cqrs.projections WHERE name = sh.rebuild_of FOR UPDATE;
    ELSE
        SELECT * INTO live FROM cqrs.projections WHERE name = sh.rebuild_of
           FOR UPDATE SKIP LOCKED;
    END IF;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    BEGIN
        IF NOT wait THEN
            PERFORM set_config('lock_timeout', '200ms', true);
        END IF;
        -- the last events, while the live projection cannot move
        LOOP
            EXIT WHEN cqrs.run_projection(shadow_name, 10000) = 0;
        END LOOP;
        SELECT * INTO sh FROM cqrs.projections WHERE name = shadow_name;
        IF sh.state <> 'running' THEN
            IF wait THEN
                RAISE EXCEPTION 'rebuild of projection "%" stopped at the event at position %: %',
                                sh.rebuild_of, sh.error_position, sh.last_error
                    USING ERRCODE = coalesce(sh.last_error_sqlstate, 'XX000');
            END IF;
            PERFORM set_config('lock_timeout', saved_timeout, true);
            RETURN false;
        END IF;

        PERFORM cqrs.swap_shadow_tables(live.schema_name, sh.schema_name, live.tables);

        UPDATE cqrs.projections
           SET position = sh.position, applied_events = sh.applied_events,
               state = CASE WHEN state = 'stopped' THEN 'stopped' ELSE 'running' END,
               last_error = NULL, last_error_sqlstate = NULL, error_position = NULL,
               failed_at = NULL, last_rebuilt_at = now(), updated_at = now()
         WHERE name = live.name;
        DELETE FROM cqrs.projections WHERE name = shadow_name;
        PERFORM set_config('lock_timeout', saved_timeout, true);
    EXCEPTION
        WHEN lock_not_available OR deadlock_detected THEN
            IF wait THEN
                RAISE;
            END IF;
            RETURN false;              -- busy: the next pass tries again
        WHEN OTHERS THEN
            IF wait THEN
                RAISE;
            END IF;
            -- visible in projection_status, and not retried in a loop
            UPDATE cqrs.projections
               SET state = 'failed', last_error = 'swap failed: ' || SQLERRM,
                   last_error_sqlstate = SQLSTATE, failed_at = now(), updated_at = now()
             WHERE name = shadow_name;
            RETURN false;
    END;
    RETURN true;
END
$$;

COMMENT ON FUNCTION cqrs.finish_rebuild(text, boolean) IS
    'Internal: swap a caught-up rebuild in (called by the runner, and by cqrs.rebuild_projection)';

-- Rebuild a projection's read model from the log while readers keep
-- reading the old one, then swap.  With bulk (the default) and a bulk
-- loader, the copy is first loaded set-based up to the sequencer's
-- position, in the caller's transaction.  wait = true: everything in the
-- caller's transaction, returning the number of events applied.  wait =
-- false: returns after the bulk load (the number of events it loaded); the
-- worker (or cqrs.drain) replays the rest with the handler in committed
-- batches, visible in cqrs.projection_status as '<name>:rebuild' (state
-- 'rebuilding', rebuild_percent, bulk_position), and swaps when it has
-- caught up.
CREATE FUNCTION cqrs.rebuild_projection(name text, wait boolean DEFAULT true,
                                        bulk boolean DEFAULT true)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    shadow_name text;
    sh cqrs.projections;
    n bigint;
    total bigint := 0;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'name must not be null' USING ERRCODE = '23502';
    END IF;
    shadow_name := cqrs.create_shadow_projection(name, 'rebuild');
    IF coalesce(bulk, true) THEN
        total := cqrs.bulk_load_shadow(shadow_name,
                                       (SELECT s.last_position FROM cqrs.sequencer_state s));
    END IF;
    IF NOT coalesce(wait, true) THEN
        RETURN total;
    END IF;
    LOOP
        n := cqrs.run_projection(shadow_name, 50000);
        total := total + n;
        EXIT WHEN n = 0;
    END LOOP;
    SELECT * INTO sh FROM cqrs.projections p WHERE p.name = shadow_name;
    IF sh.state <> 'running' THEN
        RAISE EXCEPTION 'rebuild of projection "%" stopped at the event at position %: %',
                        name, sh.error_position, sh.last_error
            USING ERRCODE = coalesce(sh.last_error_sqlstate, 'XX000'),
                  DETAIL = 'Nothing was changed: the live read model and its checkpoint are as they were.';
    END IF;
    IF NOT cqrs.finish_rebuild(shadow_name, true) THEN
        RAISE EXCEPTION 'rebuild of projection "%" could not finish', name USING ERRCODE = 'XX000';
    END IF;
    RETURN total;
END
$$;

COMMENT ON FUNCTION cqrs.rebuild_projection(text, boolean, boolean) IS
    'Rebuild a projection''s tables from the log into a shadow copy (set-based bulk load, then the handler) while readers read the live ones, then swap them in one short step';

-- Stop a rebuild that runs in the background and drop its copy.
CREATE FUNCTION cqrs.cancel_rebuild(name text)
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET client_min_messages = warning
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sh cqrs.projections;
BEGIN
    DELETE FROM cqrs.projections p WHERE p.name = cancel_rebuild.name || ':rebuild'
       AND p.rebuild_of IS NOT NULL
    RETURNING * INTO sh;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', sh.schema_name);
    RETURN true;
END
$$;

-- Compare the live read model with a fresh rebuild made in the caller's
-- transaction (never visible to anyone else), replayed to the live
-- projection's checkpoint: with bulk (the default), by the projection's
-- set-based bulk loader, then the handler for the events that arrived
-- meanwhile, so the live model (built event by event) is checked against
-- an independent derivation; without, by the handler alone.  The live projection pauses only for the
-- comparison itself.  Returns one row per difference: the table, whether
-- the row is 'missing' from the live table (the rebuild has it) or
-- 'unexpected' there (the rebuild does not), and the row.  No rows: equal.
CREATE FUNCTION cqrs.verify_projection(name text, bulk boolean DEFAULT true)
    RETURNS TABLE (table_name text, difference text, row_data jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET client_min_messages = warning
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    live cqrs.projections;
    sh cqrs.projections;
    shadow_name text;
    t text;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'name must not be null' USING ERRCODE = '23502';
    END IF;
    shadow_name := cqrs.create_shadow_projection(name, 'verify');
    SELECT * INTO live FROM cqrs.projections p WHERE p.name = verify_projection.name;
    live.position := cqrs.projection_checkpoint(live.position, live.at_horizon);
    IF coalesce(bulk, true) THEN
        PERFORM cqrs.bulk_load_shadow(shadow_name, live.position);
    END IF;
    -- replay to the live checkpoint without holding it up ...
    LOOP
        EXIT WHEN cqrs.run_projection(shadow_name, 50000, live.position) = 0;
    END LOOP;
    -- ... then hold it and catch up: off the projection horizon (the update
    -- keeps its checkpoint), the runner must lock the row to move it, and
    -- skips it while it is locked
    UPDATE cqrs.projections p SET at_horizon = false
     WHERE p.name = verify_projection.name RETURNING * INTO live;
    LOOP
        EXIT WHEN cqrs.run_projection(shadow_name, 50000, live.position) = 0;
    END LOOP;
    SELECT * INTO sh FROM cqrs.projections p WHERE p.name = shadow_name;
    IF sh.state <> 'running' THEN
        table_name := NULL;
        difference := 'replay failed';
        row_data := jsonb_build_object('position', sh.error_position, 'error', sh.last_error,
                                       'sqlstate', sh.last_error_sqlstate);
        RETURN NEXT;
    ELSIF sh.position <> live.position THEN
        table_name := NULL;
        difference := 'position';
        row_data := jsonb_build_object('live', live.position, 'rebuilt', sh.position);
        RETURN NEXT;
    END IF;
    FOREACH t IN ARRAY live.tables LOOP
        RETURN QUERY EXECUTE format(
            'SELECT %1$L::text, d.difference, d.row_data FROM ('
            ' SELECT ''missing''::text AS difference, to_jsonb(r) AS row_data'
            '   FROM (SELECT * FROM %2$I.%1$I EXCEPT ALL SELECT * FROM %3$I.%1$I) r'
            ' UNION ALL'
            ' SELECT ''unexpected'', to_jsonb(r)'
            '   FROM (SELECT * FROM %3$I.%1$I EXCEPT ALL SELECT * FROM %2$I.%1$I) r) d'
            ' ORDER BY d.row_data::text, d.difference',
            t, sh.schema_name, live.schema_name);
    END LOOP;
    DELETE FROM cqrs.projections p WHERE p.name = shadow_name;
    EXECUTE format('DROP SCHEMA %I CASCADE', sh.schema_name);
END
$$;

COMMENT ON FUNCTION cqrs.verify_projection(text, boolean) IS
    'Compare a projection''s live tables with a fresh rebuild from the log; one row per difference (none: equal)';

REVOKE ALL ON FUNCTION cqrs.shadow_schema(text, text),
    cqrs.create_shadow_projection(text, text),
    cqrs.swap_shadow_tables(name, name, text[]),
    cqrs.bulk_load_shadow(text, bigint),
    cqrs.finish_rebuild(text, boolean),
    cqrs.rebuild_projection(text, boolean, boolean),
    cqrs.cancel_rebuild(text),
    cqrs.verify_projection(text, boolean) FROM PUBLIC;
