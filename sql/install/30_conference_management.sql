-- Conference Management bounded context (domain.md section 4): two CRUD
-- tables written with plain INSERT and UPDATE, whose every change publishes
-- its integration event into the event store in the same transaction.
-- See docs/conference-management.md.
--
-- Layout of this part:
--   1. helpers: time-ordered ids, access codes, Unicode pattern matching,
--      error raising, event data builders, the append wrapper
--   2. tables
--   3. validation and guard triggers (BEFORE), event triggers (AFTER)
--   4. publish / unpublish / locate
--   5. rights, pg_dump
--
-- Every function that touches a table other than its argument is either
-- SECURITY DEFINER with search_path = pg_catalog, pg_temp, or plain SQL over
-- schema-qualified names only.  The trigger functions are SECURITY DEFINER
-- so that a role with INSERT/UPDATE on the conference tables needs no right
-- on cqrs.append or cqrs.events; they check the table they fire on, and
-- PUBLIC cannot execute them (so they cannot be attached elsewhere).

------------------------------------------------------------------------
-- 1. Helpers
------------------------------------------------------------------------

-- A time-ordered uuid (version 7 layout): 48 bits of Unix milliseconds,
-- then the random bits of a version 4 uuid from the server's strong random.
CREATE FUNCTION conference.new_id() RETURNS uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE
    AS $$
    SELECT pg_catalog.encode(
             pg_catalog.set_bit(pg_catalog.set_bit(
               pg_catalog.overlay(
                 pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
                 pg_catalog.substr(
                   pg_catalog.int8send(pg_catalog.floor(
                     pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())
                     OPERATOR(pg_catalog.*) 1000)::bigint),
                   3),
                 1, 6),
               52, 1), 53, 1),
             'hex')::uuid
$$;

COMMENT ON FUNCTION conference.new_id() IS
    'A new time-ordered uuid (version 7 layout: Unix milliseconds, then strong random bits)';

-- A conference access code: 6 characters from the reference alphabet
-- (no I, L, O, 0).  The 6 bytes come from pg_strong_random through
-- gen_random_uuid (bytes 0..5 of a version 4 uuid are fully random); 256 is
-- a multiple of 32, so byte % 32 draws each character uniformly.
CREATE FUNCTION conference.new_access_code() RETURNS text
    LANGUAGE sql VOLATILE PARALLEL SAFE
    AS $$
    SELECT pg_catalog.string_agg(
             pg_catalog.substr('ABCDEFGHJKMNPQRSTUVWXYZ123456789',
                               pg_catalog.get_byte(r.bytes, i.n)
                                 OPERATOR(pg_catalog.%) 32
                                 OPERATOR(pg_catalog.+) 1,
                               1),
             '' ORDER BY i.n)
      FROM (SELECT pg_catalog.uuid_send(pg_catalog.gen_random_uuid()) AS bytes) r,
           pg_catalog.generate_series(0, 5) AS i(n)
$$;

COMMENT ON FUNCTION conference.new_access_code() IS
    'A random 6-character access code from the alphabet ABCDEFGHJKMNPQRSTUVWXYZ123456789 (strong random, uniform)';

-- Regular expression match with Unicode character classes.  The reference
-- validates with .NET regular expressions, where \w and \s are Unicode
-- classes.  PostgreSQL classifies characters by the collation, so the match
-- uses the ICU root collation when the server has ICU and the database is
-- UTF8; otherwise it falls back to the database collation (in the "C"
-- locale, \w is then ASCII only).
DO $install$
DECLARE
    coll text := '';
BEGIN
    IF pg_catalog.getdatabaseencoding() = 'UTF8'
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_collation
                    WHERE collname = 'und-x-icu'
                      AND collnamespace = 'pg_catalog'::regnamespace) THEN
        coll := ' COLLATE pg_catalog."und-x-icu"';
    END IF;
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION conference.unicode_match(value text, pattern text)
            RETURNS boolean
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS 'SELECT $1%s OPERATOR(pg_catalog.~) $2'
        $f$, coll);
END
$install$;

COMMENT ON FUNCTION conference.unicode_match(text, text) IS
    'value ~ pattern with Unicode character classes (ICU root collation when available)';

-- Required(AllowEmptyStrings = false): null, empty and whitespace-only
-- strings are missing.
CREATE FUNCTION conference.is_blank(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT $1 IS NULL OR conference.unicode_match($1, '^\s*$')
$$;

COMMENT ON FUNCTION conference.is_blank(text) IS
    'True for null, empty and whitespace-only strings (Required with AllowEmptyStrings = false)';

-- The reference email pattern, anchored: the .NET RegularExpression
-- attribute requires the whole string to match.
CREATE FUNCTION conference.is_valid_email(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT conference.unicode_match($1, '^[\w-]+(\.?[\w-])*@[\w-]+(\.[\w-]+)+$')
$$;

COMMENT ON FUNCTION conference.is_valid_email(text) IS
    'The reference email pattern [\w-]+(\.?[\w-])*\@[\w-]+(\.[\w-]+)+ matched against the whole string';

CREATE FUNCTION conference.is_valid_slug(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT conference.unicode_match($1, '^\w+$')
$$;

COMMENT ON FUNCTION conference.is_valid_slug(text) IS
    'The reference slug pattern ^\w+$ (letters, digits, underscore)';

-- Raises a validation error that names its field (column) and table.
CREATE FUNCTION conference.raise_invalid(sqlstate text, table_name text,
                                         column_name text, message text,
                                         detail text DEFAULT NULL,
                                         hint text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF detail IS NULL AND hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message,
            SCHEMA = 'conference', TABLE = table_name, COLUMN = column_name;
    ELSIF hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message,
            DETAIL = detail,
            SCHEMA = 'conference', TABLE = table_name, COLUMN = column_name;
    ELSIF detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message,
            HINT = hint,
            SCHEMA = 'conference', TABLE = table_name, COLUMN = column_name;
    ELSE
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message,
            DETAIL = detail, HINT = hint,
            SCHEMA = 'conference', TABLE = table_name, COLUMN = column_name;
    END IF;
END
$$;

COMMENT ON FUNCTION conference.raise_invalid(text, text, text, text, text, text) IS
    'Raise an error with the given SQLSTATE whose schema, table and column fields name the offending field';

------------------------------------------------------------------------
-- 2. Tables
------------------------------------------------------------------------

CREATE TABLE conference.conferences (
    id uuid NOT NULL DEFAULT conference.new_id(),
    name text NOT NULL,
    description text NOT NULL,
    location text NOT NULL,
    tagline text,
    twitter_search text,
    start_date date NOT NULL,
    end_date date NOT NULL,
    owner_name text NOT NULL,
    owner_email text NOT NULL,
    slug text NOT NULL,
    access_code text NOT NULL,
    is_published boolean NOT NULL DEFAULT false,
    was_ever_published boolean NOT NULL DEFAULT false,
    CONSTRAINT conferences_pkey PRIMARY KEY (id),
    CONSTRAINT conferences_access_code_key UNIQUE (access_code),
    CONSTRAINT conferences_access_code_check
        CHECK (access_code OPERATOR(pg_catalog.~) '^[ABCDEFGHJKMNPQRSTUVWXYZ1-9]{6}$'),
    CONSTRAINT conferences_published_check
        CHECK (was_ever_published OR NOT is_published)
);

-- Slugs are unique without regard to case: they are URL segments, and the
-- reference ran on SQL Server's case-insensitive default collation.
CREATE UNIQUE INDEX conferences_slug_key
    ON conference.conferences (pg_catalog.lower(slug));

COMMENT ON TABLE conference.conferences IS
    'Conference Management write model (CRUD): every change publishes its integration event in the same transaction';
COMMENT ON COLUMN conference.conferences.id IS 'Time-ordered uuid; also the id of the conference''s event stream (type Conference)';
COMMENT ON COLUMN conference.conferences.slug IS 'Required, ^\w+$, unique (case-insensitive), cannot be changed';
COMMENT ON COLUMN conference.conferences.access_code IS 'Generated on insert (6 characters, strong random), unique, cannot be changed';
COMMENT ON COLUMN conference.conferences.owner_name IS 'Required, cannot be changed';
COMMENT ON COLUMN conference.conferences.owner_email IS 'Required, reference email pattern, cannot be changed';
COMMENT ON COLUMN conference.conferences.is_published IS 'false on insert; change it with conference.publish()/unpublish() or UPDATE';
COMMENT ON COLUMN conference.conferences.was_ever_published IS 'Set by the first publish and never reset; maintained by the extension';

CREATE TABLE conference.seat_types (
    id uuid NOT NULL DEFAULT conference.new_id(),
    conference_id uuid NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    quantity integer NOT NULL,
    price numeric(18,2) NOT NULL,
    CONSTRAINT seat_types_pkey PRIMARY KEY (id),
    CONSTRAINT seat_types_conference_id_fkey FOREIGN KEY (conference_id)
        REFERENCES conference.conferences (id),
    CONSTRAINT seat_types_name_check
        CHECK (pg_catalog.char_length(name) BETWEEN 2 AND 70),
    CONSTRAINT seat_types_description_check
        CHECK (pg_catalog.char_length(description) <= 250),
    CONSTRAINT seat_types_quantity_check CHECK (quantity BETWEEN 0 AND 100000),
    CONSTRAINT seat_types_price_check CHECK (price BETWEEN 0 AND 50000)
);

CREATE INDEX seat_types_conference_id_idx ON conference.seat_types (conference_id);

COMMENT ON TABLE conference.seat_types IS
    'Seat types of a conference (CRUD); SeatCreated/SeatUpdated are published once the conference was ever published';
COMMENT ON COLUMN conference.seat_types.id IS 'Time-ordered uuid; also the id of the seat type''s event stream (type SeatType)';
COMMENT ON COLUMN conference.seat_types.conference_id IS 'The conference; cannot be changed';

------------------------------------------------------------------------
-- Event data builders and the append wrapper
------------------------------------------------------------------------

-- ConferenceCreated / ConferenceUpdated data (domain.md 4.3), camelCase.
CREATE FUNCTION conference.conference_event_data(c conference.conferences)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT pg_catalog.jsonb_build_object(
        'conferenceId', (c).id,
        'name', (c).name,
        'description', (c).description,
        'location', (c).location,
        'slug', (c).slug,
        'tagline', (c).tagline,
        'twitterSearch', (c).twitter_search,
        'startDate', (c).start_date,
        'endDate', (c).end_date,
        'owner', pg_catalog.jsonb_build_object('name', (c).owner_name,
                                               'email', (c).owner_email))
$$;

COMMENT ON FUNCTION conference.conference_event_data(conference.conferences) IS
    'The data of ConferenceCreated and ConferenceUpdated for a conference row';

-- SeatCreated / SeatUpdated data (domain.md 4.3), camelCase.
CREATE FUNCTION conference.seat_event_data(s conference.seat_types)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT pg_catalog.jsonb_build_object(
        'seatTypeId', (s).id,
        'conferenceId', (s).conference_id,
        'name', (s).name,
        'description', (s).description,
        'price', (s).price,
        'quantity', (s).quantity)
$$;

COMMENT ON FUNCTION conference.seat_event_data(conference.seat_types) IS
    'The data of SeatCreated and SeatUpdated for a seat type row';

-- Appends one event through cqrs.append (the C append path), in the
-- caller's transaction.  Metadata records where the event came from.
CREATE FUNCTION conference.emit(stream_id uuid, stream_type text,
                                expected_version bigint, event_type text,
                                data jsonb)
    RETURNS bigint
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT cqrs.append($1, $2, $3,
        pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'type', $4,
            'data', $5,
            'metadata', pg_catalog.jsonb_build_object(
                'origin', 'conference-management',
                'user', session_user))))
$$;

COMMENT ON FUNCTION conference.emit(uuid, text, bigint, text, jsonb) IS
    'Internal: append one Conference Management integration event through cqrs.append';

------------------------------------------------------------------------
-- 3. Triggers
------------------------------------------------------------------------

-- Validation shared by INSERT and UPDATE of a conference.  Fields are
-- checked in column order, so the first offending field is reported.
CREATE FUNCTION conference.validate_conference(c conference.conferences)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF conference.is_blank(c.name) THEN
        PERFORM conference.raise_invalid('23502', 'conferences', 'name',
            'invalid conference: name is required',
            'Null, empty and whitespace-only values are refused.');
    END IF;
    IF conference.is_blank(c.description) THEN
        PERFORM conference.raise_invalid('23502', 'conferences', 'description',
            'invalid conference: description is required',
            'Null, empty and whitespace-only values are refused.');
    END IF;
    IF conference.is_blank(c.location) THEN
        PERFORM conference.raise_invalid('23502', 'conferences', 'location',
            'invalid conference: location is required',
            'Null, empty and whitespace-only values are refused.');
    END IF;
    IF c.start_date IS NULL THEN
        PERFORM conference.raise_invalid('23502', 'conferences', 'start_date',
            'invalid conference: start_date is required');
    END IF;
    IF c.end_date IS NULL THEN
        PERFORM conference.raise_invalid('23502', 'conferences', 'end_date',
            'invalid conference: end_date is required');
    END IF;
    IF conference.is_blank(c.owner_name) THEN
        PERFORM conference.raise_invalid('23502', 'conferences', 'owner_name',
            'invalid conference: owner_name is required',
            'Null, empty and whitespace-only values are refused.');
    END IF;
    IF conference.is_blank(c.owner_email) THEN
        PERFORM conference.raise_invalid('23502', 'conferences', 'owner_email',
            'invalid conference: owner_email is required',
            'Null, empty and whitespace-only values are refused.');
    END IF;
    IF NOT conference.is_valid_email(c.owner_email) THEN
        PERFORM conference.raise_invalid('23514', 'conferences', 'owner_email',
            'invalid conference: owner_email is not a valid email address',
            'The whole value must match [\w-]+(\.?[\w-])*@[\w-]+(\.[\w-]+)+.');
    END IF;
    IF conference.is_blank(c.slug) THEN
        PERFORM conference.raise_invalid('23502', 'conferences', 'slug',
            'invalid conference: slug is required',
            'Null, empty and whitespace-only values are refused.');
    END IF;
    IF NOT conference.is_valid_slug(c.slug) THEN
        PERFORM conference.raise_invalid('23514', 'conferences', 'slug',
            format('invalid conference: slug "%s" may contain only letters, digits and underscores', c.slug),
            'The whole value must match ^\w+$.');
    END IF;
END
$$;

COMMENT ON FUNCTION conference.validate_conference(conference.conferences) IS
    'Internal: raise an error naming the first field of a conference row that breaks a rule';

CREATE FUNCTION conference.conferences_before_insert() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    code text;
BEGIN
    IF TG_RELID <> 'conference.conferences'::regclass THEN
        RAISE EXCEPTION USING ERRCODE = '39P01',
            MESSAGE = format('trigger %s: %s is not a conference management table',
                             TG_NAME, TG_TABLE_NAME);
    END IF;

    IF NEW.id IS NULL THEN
        NEW.id := conference.new_id();
    END IF;
    -- New conferences start unpublished (the reference forces this).
    NEW.is_published := false;
    NEW.was_ever_published := false;

    PERFORM conference.validate_conference(NEW);

    -- (Another conference: an INSERT ... ON CONFLICT (id) DO UPDATE of the
    -- same conference goes on to its UPDATE.)
    IF EXISTS (SELECT 1 FROM conference.conferences c
                WHERE lower(c.slug) = lower(NEW.slug) AND c.id <> NEW.id) THEN
        PERFORM conference.raise_invalid('23505', 'conferences', 'slug',
            format('invalid conference: slug "%s" is already taken', NEW.slug),
            'The chosen conference slug is already taken.');
    END IF;

    -- The access code is always generated by the server (the reference does
    -- not bind it), unique among conferences.
    LOOP
        code := conference.new_access_code();
        EXIT WHEN NOT EXISTS (SELECT 1 FROM conference.conferences c
                               WHERE c.access_code = code);
    END LOOP;
    NEW.access_code := code;
    RETURN NEW;
END
$$;

CREATE FUNCTION conference.conferences_before_update() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_RELID <> 'conference.conferences'::regclass THEN
        RAISE EXCEPTION USING ERRCODE = '39P01',
            MESSAGE = format('trigger %s: %s is not a conference management table',
                             TG_NAME, TG_TABLE_NAME);
    END IF;

    IF NEW.id IS DISTINCT FROM OLD.id THEN
        PERFORM conference.raise_invalid('55000', 'conferences', 'id',
            'id cannot be changed after the conference is created',
            'The id is also the id of the conference''s event stream.');
    END IF;
    IF NEW.slug IS DISTINCT FROM OLD.slug THEN
        PERFORM conference.raise_invalid('55000', 'conferences', 'slug',
            'slug cannot be changed after the conference is created');
    END IF;
    IF NEW.access_code IS DISTINCT FROM OLD.access_code THEN
        PERFORM conference.raise_invalid('55000', 'conferences', 'access_code',
            'access_code cannot be changed after the conference is created');
    END IF;
    IF NEW.owner_name IS DISTINCT FROM OLD.owner_name THEN
        PERFORM conference.raise_invalid('55000', 'conferences', 'owner_name',
            'owner_name cannot be changed after the conference is created');
    END IF;
    IF NEW.owner_email IS DISTINCT FROM OLD.owner_email THEN
        PERFORM conference.raise_invalid('55000', 'conferences', 'owner_email',
            'owner_email cannot be changed after the conference is created');
    END IF;

    IF NEW.is_published IS NULL THEN
        PERFORM conference.raise_invalid('23502', 'conferences', 'is_published',
            'invalid conference: is_published must not be null');
    END IF;
    -- was_ever_published follows is_published: set by the first publish,
    -- never reset.  Setting it by hand to anything else is refused.
    IF NEW.was_ever_published IS DISTINCT FROM OLD.was_ever_published
       AND NEW.was_ever_published IS DISTINCT FROM
           (OLD.was_ever_published OR NEW.is_published) THEN
        PERFORM conference.raise_invalid('55000', 'conferences', 'was_ever_published',
            'was_ever_published is maintained by the extension and cannot be set',
            NULL,
            'Publish with conference.publish(); the flag is set on the first publish and never reset.');
    END IF;
    NEW.was_ever_published := OLD.was_ever_published OR NEW.is_published;

    PERFORM conference.validate_conference(NEW);
    RETURN NEW;
END
$$;

CREATE FUNCTION conference.conferences_after_insert() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_RELID <> 'conference.conferences'::regclass THEN
        RAISE EXCEPTION USING ERRCODE = '39P01',
            MESSAGE = format('trigger %s: %s is not a conference management table',
                             TG_NAME, TG_TABLE_NAME);
    END IF;
    -- Always, although the conference is unpublished (reference).  The
    -- stream must not exist yet.
    PERFORM conference.emit(NEW.id, 'Conference', -1, 'ConferenceCreated',
                            conference.conference_event_data(NEW));
    RETURN NULL;
END
$$;

CREATE FUNCTION conference.conferences_after_update() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    new_data jsonb := conference.conference_event_data(NEW);
    seat conference.seat_types;
BEGIN
    IF TG_RELID <> 'conference.conferences'::regclass THEN
        RAISE EXCEPTION USING ERRCODE = '39P01',
            MESSAGE = format('trigger %s: %s is not a conference management table',
                             TG_NAME, TG_TABLE_NAME);
    END IF;

    -- ConferenceUpdated when something the event carries changed.
    IF new_data IS DISTINCT FROM conference.conference_event_data(OLD) THEN
        PERFORM conference.emit(NEW.id, 'Conference', NULL, 'ConferenceUpdated',
                                new_data);
    END IF;

    IF NEW.is_published AND NOT OLD.is_published THEN
        -- First publish: announce every existing seat type (V3).  The row
        -- lock this UPDATE holds on the conference is taken by every seat
        -- type change too (seat_types_before_change), so no seat type can
        -- slip in unannounced.
        IF NOT OLD.was_ever_published THEN
            FOR seat IN
                SELECT * FROM conference.seat_types s
                 WHERE s.conference_id = NEW.id
                 ORDER BY s.name, s.id
            LOOP
                PERFORM conference.emit(seat.id, 'SeatType', -1, 'SeatCreated',
                                        conference.seat_event_data(seat));
            END LOOP;
        END IF;
        PERFORM conference.emit(NEW.id, 'Conference', NULL, 'ConferencePublished',
                                jsonb_build_object('conferenceId', NEW.id));
    ELSIF OLD.is_published AND NOT NEW.is_published THEN
        PERFORM conference.emit(NEW.id, 'Conference', NULL, 'ConferenceUnpublished',
                                jsonb_build_object('conferenceId', NEW.id));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION conference.conferences_refuse_delete() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = '0A000',
        MESSAGE = 'conferences cannot be deleted',
        DETAIL = 'ConferenceCreated has been published and there is no event that withdraws a conference.',
        HINT = 'Unpublish it instead: SELECT conference.unpublish(id).',
        SCHEMA = 'conference', TABLE = TG_TABLE_NAME;
END
$$;

CREATE FUNCTION conference.refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = '0A000',
        MESSAGE = format('conference.%s cannot be truncated', TG_TABLE_NAME),
        DETAIL = 'Its rows have been announced by events in the event store; removing them would leave the two out of step.',
        SCHEMA = 'conference', TABLE = TG_TABLE_NAME;
END
$$;

CREATE TRIGGER conferences_before_insert
    BEFORE INSERT ON conference.conferences
    FOR EACH ROW EXECUTE FUNCTION conference.conferences_before_insert();
CREATE TRIGGER conferences_before_update
    BEFORE UPDATE ON conference.conferences
    FOR EACH ROW EXECUTE FUNCTION conference.conferences_before_update();
CREATE TRIGGER conferences_refuse_delete
    BEFORE DELETE ON conference.conferences
    FOR EACH ROW EXECUTE FUNCTION conference.conferences_refuse_delete();
CREATE TRIGGER conferences_refuse_truncate
    BEFORE TRUNCATE ON conference.conferences
    FOR EACH STATEMENT EXECUTE FUNCTION conference.refuse_truncate();
CREATE TRIGGER conferences_after_insert
    AFTER INSERT ON conference.conferences
    FOR EACH ROW EXECUTE FUNCTION conference.conferences_after_insert();
CREATE TRIGGER conferences_after_update
    AFTER UPDATE ON conference.conferences
    FOR EACH ROW EXECUTE FUNCTION conference.conferences_after_update();

-- Seat types.

CREATE FUNCTION conference.validate_seat_type(s conference.seat_types)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF s.conference_id IS NULL THEN
        PERFORM conference.raise_invalid('23502', 'seat_types', 'conference_id',
            'invalid seat type: conference_id is required');
    END IF;
    IF conference.is_blank(s.name) THEN
        PERFORM conference.raise_invalid('23502', 'seat_types', 'name',
            'invalid seat type: name is required',
            'Null, empty and whitespace-only values are refused.');
    END IF;
    IF char_length(s.name) NOT BETWEEN 2 AND 70 THEN
        PERFORM conference.raise_invalid('23514', 'seat_types', 'name',
            format('invalid seat type: name must be 2 to 70 characters long, not %s',
                   char_length(s.name)));
    END IF;
    IF conference.is_blank(s.description) THEN
        PERFORM conference.raise_invalid('23502', 'seat_types', 'description',
            'invalid seat type: description is required',
            'Null, empty and whitespace-only values are refused.');
    END IF;
    IF char_length(s.description) > 250 THEN
        PERFORM conference.raise_invalid('23514', 'seat_types', 'description',
            format('invalid seat type: description must be at most 250 characters long, not %s',
                   char_length(s.description)));
    END IF;
    IF s.quantity IS NULL THEN
        PERFORM conference.raise_invalid('23502', 'seat_types', 'quantity',
            'invalid seat type: quantity is required');
    END IF;
    IF s.quantity NOT BETWEEN 0 AND 100000 THEN
        PERFORM conference.raise_invalid('23514', 'seat_types', 'quantity',
            format('invalid seat type: quantity must be between 0 and 100000, not %s',
                   s.quantity));
    END IF;
    IF s.price IS NULL THEN
        PERFORM conference.raise_invalid('23502', 'seat_types', 'price',
            'invalid seat type: price is required');
    END IF;
    IF s.price NOT BETWEEN 0 AND 50000 THEN
        PERFORM conference.raise_invalid('23514', 'seat_types', 'price',
            format('invalid seat type: price must be between 0 and 50000, not %s',
                   s.price));
    END IF;
END
$$;

COMMENT ON FUNCTION conference.validate_seat_type(conference.seat_types) IS
    'Internal: raise an error naming the first field of a seat type row that breaks a rule';

-- Locks the seat type's conference row for the rest of the transaction and
-- returns its was_ever_published.  publish() updates that row, so a seat
-- type change and a first publish are serialised: either the publish sees
-- the seat type (and announces it), or the seat type change sees the
-- conference as published (and announces itself).
CREATE FUNCTION conference.lock_conference_of_seat_type(conference_id uuid)
    RETURNS boolean
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ever boolean;
BEGIN
    SELECT c.was_ever_published INTO ever
      FROM conference.conferences c
     WHERE c.id = lock_conference_of_seat_type.conference_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM conference.raise_invalid('23503', 'seat_types', 'conference_id',
            format('invalid seat type: conference %s does not exist', conference_id));
    END IF;
    RETURN ever;
END
$$;

REVOKE ALL ON FUNCTION conference.lock_conference_of_seat_type(uuid) FROM PUBLIC;

CREATE FUNCTION conference.seat_types_before_change() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_RELID <> 'conference.seat_types'::regclass THEN
        RAISE EXCEPTION USING ERRCODE = '39P01',
            MESSAGE = format('trigger %s: %s is not a conference management table',
                             TG_NAME, TG_TABLE_NAME);
    END IF;

    IF TG_OP = 'DELETE' THEN
        IF conference.lock_conference_of_seat_type(OLD.conference_id) THEN
            PERFORM conference.raise_invalid('55000', 'seat_types', 'conference_id',
                'cannot delete a seat type of a conference that has been published at least once',
                format('Seat type %s belongs to conference %s, whose was_ever_published is true.',
                       OLD.id, OLD.conference_id),
                'Set its quantity to 0 instead.');
        END IF;
        RETURN OLD;
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.id IS NULL THEN
            NEW.id := conference.new_id();
        END IF;
    ELSE
        IF NEW.id IS DISTINCT FROM OLD.id THEN
            PERFORM conference.raise_invalid('55000', 'seat_types', 'id',
                'id cannot be changed after the seat type is created',
                'The id is also the id of the seat type''s event stream.');
        END IF;
        IF NEW.conference_id IS DISTINCT FROM OLD.conference_id THEN
            PERFORM conference.raise_invalid('55000', 'seat_types', 'conference_id',
                'conference_id cannot be changed after the seat type is created',
                'A seat type cannot move to another conference.');
        END IF;
    END IF;

    PERFORM conference.validate_seat_type(NEW);
    PERFORM conference.lock_conference_of_seat_type(NEW.conference_id);
    RETURN NEW;
END
$$;

CREATE FUNCTION conference.seat_types_after_change() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ever boolean;
    new_data jsonb;
BEGIN
    IF TG_RELID <> 'conference.seat_types'::regclass THEN
        RAISE EXCEPTION USING ERRCODE = '39P01',
            MESSAGE = format('trigger %s: %s is not a conference management table',
                             TG_NAME, TG_TABLE_NAME);
    END IF;

    -- The BEFORE trigger locked the conference row, so this is current.
    SELECT c.was_ever_published INTO ever
      FROM conference.conferences c WHERE c.id = NEW.conference_id;
    IF NOT ever THEN
        RETURN NULL;    -- announced by the first publish (V3)
    END IF;

    new_data := conference.seat_event_data(NEW);
    IF TG_OP = 'INSERT' THEN
        PERFORM conference.emit(NEW.id, 'SeatType', -1, 'SeatCreated', new_data);
    ELSIF new_data IS DISTINCT FROM conference.seat_event_data(OLD) THEN
        PERFORM conference.emit(NEW.id, 'SeatType', NULL, 'SeatUpdated', new_data);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER seat_types_before_change
    BEFORE INSERT OR UPDATE OR DELETE ON conference.seat_types
    FOR EACH ROW EXECUTE FUNCTION conference.seat_types_before_change();
CREATE TRIGGER seat_types_refuse_truncate
    BEFORE TRUNCATE ON conference.seat_types
    FOR EACH STATEMENT EXECUTE FUNCTION conference.refuse_truncate();
CREATE TRIGGER seat_types_after_change
    AFTER INSERT OR UPDATE ON conference.seat_types
    FOR EACH ROW EXECUTE FUNCTION conference.seat_types_after_change();

------------------------------------------------------------------------
-- 4. Operations
------------------------------------------------------------------------

-- Publishing goes through the same UPDATE path as an application's
-- UPDATE ... SET is_published = true, so both behave the same; these
-- functions add the existence check and run with the caller's rights
-- (publishing needs UPDATE on conference.conferences).
CREATE FUNCTION conference.set_published(conference_id uuid, published boolean,
                                         operation text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    current_state boolean;
BEGIN
    IF conference_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = format('conference.%s: conference_id must not be null', operation);
    END IF;
    SELECT c.is_published INTO current_state
      FROM conference.conferences c
     WHERE c.id = set_published.conference_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('conference %s does not exist', conference_id),
            SCHEMA = 'conference', TABLE = 'conferences', COLUMN = 'id';
    END IF;
    IF current_state = published THEN
        RETURN;     -- already in that state: nothing changes, nothing is published
    END IF;
    UPDATE conference.conferences c
       SET is_published = published
     WHERE c.id = set_published.conference_id;
END
$$;

COMMENT ON FUNCTION conference.set_published(uuid, boolean, text) IS
    'Internal: the body of conference.publish and conference.unpublish';

CREATE FUNCTION conference.publish(conference_id uuid) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT conference.set_published($1, true, 'publish')
$$;

COMMENT ON FUNCTION conference.publish(uuid) IS
    'Publish a conference: ConferencePublished; on the first publish SeatCreated for every seat type first. No-op when already published';

CREATE FUNCTION conference.unpublish(conference_id uuid) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT conference.set_published($1, false, 'unpublish')
$$;

COMMENT ON FUNCTION conference.unpublish(uuid) IS
    'Unpublish a conference: ConferenceUnpublished (was_ever_published stays true). No-op when not published';

-- The admin's way back to a conference: owner email (compared without
-- regard to case) and access code (compared exactly).  NULL when nothing
-- matches.  SECURITY DEFINER so that a caller needs no SELECT on the table,
-- which holds every access code.
CREATE FUNCTION conference.locate(owner_email text, access_code text)
    RETURNS uuid
    LANGUAGE sql STABLE STRICT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT c.id FROM conference.conferences c
     WHERE c.access_code = $2
       AND lower(c.owner_email) = lower($1)
$$;

COMMENT ON FUNCTION conference.locate(text, text) IS
    'The id of the conference with this owner email (case-insensitive) and access code (exact), NULL when none';

------------------------------------------------------------------------
-- 5. Rights and pg_dump
------------------------------------------------------------------------

-- Trigger functions run with the extension's rights; nobody else may use
-- them (attaching one to another table would let its owner append events).
REVOKE ALL ON FUNCTION conference.conferences_before_insert() FROM PUBLIC;
REVOKE ALL ON FUNCTION conference.conferences_before_update() FROM PUBLIC;
REVOKE ALL ON FUNCTION conference.conferences_after_insert() FROM PUBLIC;
REVOKE ALL ON FUNCTION conference.conferences_after_update() FROM PUBLIC;
REVOKE ALL ON FUNCTION conference.conferences_refuse_delete() FROM PUBLIC;
REVOKE ALL ON FUNCTION conference.refuse_truncate() FROM PUBLIC;
REVOKE ALL ON FUNCTION conference.seat_types_before_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION conference.seat_types_after_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION conference.emit(uuid, text, bigint, text, jsonb) FROM PUBLIC;

-- The rows are application data: pg_dump dumps them.  Restore them with
-- session_replication_role = replica (see docs/conference-management.md),
-- so that the triggers do not announce them a second time.
SELECT pg_catalog.pg_extension_config_dump('conference.conferences', '');
SELECT pg_catalog.pg_extension_config_dump('conference.seat_types', '');
