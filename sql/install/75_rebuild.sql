-- Zero-downtime rebuilds and verification of projections that declare their
-- tables (cqrs.projections.schema_name / tables).  See docs/read-models.md.
--
-- A rebuild replays the log with the projection's own handler into fresh
-- copies of its tables in a shadow schema (the runner sets search_path to
-- it), while readers keep reading the live tables.  When the copy has
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
    FOR v IN SELECT DISTINCT c.oid::regclass::text AS name, c.relkind,
                    pg_get_viewdef(c.oid) AS def
               FROM pg_depend d
               JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
               JOIN pg_class c ON c.oid = r.ev_class
              WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY (old_oids)
                AND c.oid <> ALL (old_oids)
              ORDER BY 1 LOOP
        IF v.relkind <> 'v' THEN
            RAISE EXCEPTION 'cannot swap the tables of a rebuild: % reads them and is not a plain view', v.name
                USING ERRCODE = '55000';
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
-- reading the old one, then swap.  wait = true: in the caller's
-- transaction, returning the number of events replayed.  wait = false:
-- only starts it; the worker (or cqrs.drain) replays in committed batches,
-- visible in cqrs.projection_status as '<name>:rebuild' (state
-- 'rebuilding', rebuild_percent), and swaps when it has caught up.
CREATE FUNCTION cqrs.rebuild_projection(name text, wait boolean DEFAULT true)
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
    IF NOT wait THEN
        RETURN 0;
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

COMMENT ON FUNCTION cqrs.rebuild_projection(text, boolean) IS
    'Rebuild a projection''s tables from the log into a shadow copy while readers read the live ones, then swap them in one short step';

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
-- projection's checkpoint.  The live projection pauses only for the
-- comparison itself.  Returns one row per difference: the table, whether
-- the row is 'missing' from the live table (the rebuild has it) or
-- 'unexpected' there (the rebuild does not), and the row.  No rows: equal.
CREATE FUNCTION cqrs.verify_projection(name text)
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
    -- replay to the live checkpoint without holding it up ...
    LOOP
        EXIT WHEN cqrs.run_projection(shadow_name, 50000, live.position) = 0;
    END LOOP;
    -- ... then hold it (the runner skips a locked projection) and catch up
    SELECT * INTO live FROM cqrs.projections p WHERE p.name = verify_projection.name FOR SHARE;
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

COMMENT ON FUNCTION cqrs.verify_projection(text) IS
    'Compare a projection''s live tables with a fresh rebuild from the log; one row per difference (none: equal)';

REVOKE ALL ON FUNCTION cqrs.shadow_schema(text, text),
    cqrs.create_shadow_projection(text, text),
    cqrs.swap_shadow_tables(name, name, text[]),
    cqrs.finish_rebuild(text, boolean),
    cqrs.rebuild_projection(text, boolean),
    cqrs.cancel_rebuild(text),
    cqrs.verify_projection(text) FROM PUBLIC;
