-- Conference Management rights: an application role with plain table
-- rights on the two conference tables writes them, and its changes are
-- published, although it has no right on cqrs.append or cqrs.events.  The
-- trigger functions cannot be reused elsewhere; locate() needs no table
-- rights; publish() needs UPDATE on conference.conferences.
\set SHOW_CONTEXT never

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN format('%s %s', st, msg);
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

CREATE ROLE regress_conf_admin_app;
CREATE ROLE regress_conf_site;
GRANT USAGE ON SCHEMA conference TO regress_conf_admin_app, regress_conf_site;
GRANT SELECT, INSERT, UPDATE ON conference.conferences TO regress_conf_admin_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON conference.seat_types TO regress_conf_admin_app;

-- The application role has no right on the event store.
SELECT has_function_privilege('regress_conf_admin_app', 'cqrs.append(uuid,text,bigint,jsonb)', 'EXECUTE') AS may_append,
       has_table_privilege('regress_conf_admin_app', 'cqrs.events', 'SELECT, INSERT') AS may_use_events;

SET ROLE regress_conf_admin_app;
INSERT INTO conference.conferences
       (name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('CR App', 'Rights test', 'Oslo', '2030-09-01', '2030-09-02', 'Ann', 'ann@contoso.com', 'cr_app')
RETURNING id AS app \gset
INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'app', 'General', 'General admission', 10, 10);
SELECT conference.publish(:'app');
UPDATE conference.seat_types SET quantity = 12 WHERE conference_id = :'app';
UPDATE conference.conferences SET tagline = 'Now with rights' WHERE id = :'app';
-- It cannot write events itself, nor use the trigger functions elsewhere.
SELECT pg_temp.try($$SELECT cqrs.append(gen_random_uuid(), 'Conference', NULL, '[{"type": "ConferencePublished", "data": {}}]')$$) AS direct_append;
CREATE TEMP TABLE fake_seats (id uuid, conference_id uuid, name text, description text, quantity int, price numeric);
SELECT pg_temp.try($$CREATE TRIGGER fake AFTER INSERT ON fake_seats FOR EACH ROW EXECUTE FUNCTION conference.seat_types_after_change()$$) AS reuse_trigger_function;
-- Nor can it bypass the rules.
SELECT pg_temp.try(format('UPDATE conference.conferences SET was_ever_published = false WHERE id = %L', :'app')) AS reset_flag;
SELECT pg_temp.try(format('DELETE FROM conference.seat_types WHERE conference_id = %L', :'app')) AS delete_seat;
RESET ROLE;

-- Its changes were published.
SELECT cqrs.sequence_events() AS sequenced \gset
SELECT e.stream_type, e.version, e.event_type, e.metadata->>'user' = session_user::text AS user_recorded
  FROM cqrs.events e
 WHERE e.data->>'conferenceId' = :'app'
 ORDER BY e.global_position;

-- Even if a superuser attached a trigger function to another table, it
-- refuses to run there.
CREATE TEMP TABLE fake_seats2 (LIKE conference.seat_types);
CREATE TRIGGER fake AFTER INSERT ON fake_seats2 FOR EACH ROW EXECUTE FUNCTION conference.seat_types_after_change();
SELECT pg_temp.try(format($$INSERT INTO fake_seats2 VALUES (gen_random_uuid(), %L, 'Fake', 'Fake', 1, 1)$$, :'app')) AS fake_insert;

-- The public site role: locate() without SELECT on the table (which holds
-- the access codes); publish() needs UPDATE on the table.
SELECT access_code AS code FROM conference.conferences WHERE id = :'app' \gset
SET ROLE regress_conf_site;
SELECT conference.locate('ann@contoso.com', :'code') = :'app' AS located;
SELECT pg_temp.try('SELECT access_code FROM conference.conferences') AS read_codes;
SELECT pg_temp.try(format('SELECT conference.unpublish(%L)', :'app')) AS unpublish;
RESET ROLE;

-- A caller's search_path cannot redirect the SECURITY DEFINER functions.
SELECT p.oid::regprocedure AS function, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'conference'::regnamespace AND p.prosecdef
 ORDER BY p.oid::regprocedure::text;

-- Who may execute what: nothing internal is executable by PUBLIC.
SELECT p.oid::regprocedure AS function,
       has_function_privilege('regress_conf_site', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'conference'::regnamespace
   AND p.proname IN ('publish', 'unpublish', 'locate', 'new_id', 'new_access_code', 'emit',
                     'lock_conference_of_seat_type', 'conferences_after_insert',
                     'conferences_after_update', 'seat_types_after_change',
                     'seat_types_before_change')
 ORDER BY p.oid::regprocedure::text;

DROP TABLE fake_seats2;
DROP OWNED BY regress_conf_admin_app, regress_conf_site;
DROP ROLE regress_conf_admin_app;
DROP ROLE regress_conf_site;
