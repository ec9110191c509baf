-- Conference Management: tables, generated values, validation rules,
-- immutable fields, publish/unpublish/locate errors.  Every refused change
-- reports its SQLSTATE and the field (column) it names, and writes nothing.
-- Events are tested in conference_events.
\set SHOW_CONTEXT never

-- Runs a statement and reports "ok" or the error's SQLSTATE, column and
-- message, one line, so the output does not depend on error context.
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    st text; col text; msg text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, col = COLUMN_NAME,
                            msg = MESSAGE_TEXT;
    RETURN format('%s [%s] %s', st, coalesce(nullif(col, ''), '-'), msg);
END
$$;

-- Events of this context (the deltas must stay 0 for refused changes).
CREATE FUNCTION pg_temp.event_count() RETURNS bigint
    LANGUAGE sql AS $$
    SELECT count(*) FROM cqrs.events WHERE stream_type IN ('Conference', 'SeatType')
$$;

-- The tables have the contract's columns.
SELECT attrelid::regclass AS table_name, attname, format_type(atttypid, atttypmod),
       attnotnull
  FROM pg_attribute
 WHERE attrelid IN ('conference.conferences'::regclass, 'conference.seat_types'::regclass)
   AND attnum > 0 AND NOT attisdropped
 ORDER BY attrelid::regclass::text, attnum;

-- The public functions.
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS returns,
       p.prosecdef AS security_definer
  FROM pg_proc p
 WHERE p.pronamespace = 'conference'::regnamespace
   AND p.proname IN ('publish', 'unpublish', 'locate', 'new_id', 'new_access_code')
 ORDER BY p.oid::regprocedure::text;

-- A valid conference.
INSERT INTO conference.conferences
       (name, description, location, tagline, twitter_search, start_date,
        end_date, owner_name, owner_email, slug)
VALUES ('CT Summit', 'Tables test', 'Redmond', 'Tag', '#ct', '2030-05-01',
        '2030-05-03', 'Ann Owner', 'ann.owner@contoso.com', 'ct_summit');

-- Id generated (time-ordered, version 7 layout); access code generated
-- from the reference alphabet; new conferences are unpublished.
SELECT substr(id::text, 15, 1) AS uuid_version,
       substr(id::text, 20, 1) IN ('8', '9', 'a', 'b') AS rfc_variant,
       access_code ~ '^[ABCDEFGHJKMNPQRSTUVWXYZ1-9]{6}$' AS access_code_ok,
       is_published, was_ever_published
  FROM conference.conferences WHERE slug = 'ct_summit';

-- Ids sort in creation order (milliseconds apart).
SELECT bool_and(a < b) AS time_ordered
  FROM (SELECT conference.new_id() AS a, pg_sleep(0.002), conference.new_id() AS b
          FROM generate_series(1, 3)) t;

-- Access codes: only the 32 reference characters, all of them in use.
SELECT count(DISTINCT ch) AS distinct_chars,
       bool_and(ch ~ '^[ABCDEFGHJKMNPQRSTUVWXYZ1-9]$') AS alphabet_only,
       bool_and(length(code) = 6) AS six_chars
  FROM (SELECT conference.new_access_code() AS code FROM generate_series(1, 2000)) c,
       regexp_split_to_table(c.code, '') AS ch;

-- Supplied flags and access code are overridden on insert: a new conference
-- starts unpublished, and the server draws its access code.  An explicit
-- id is kept; a NULL id is generated.
INSERT INTO conference.conferences
       (id, name, description, location, start_date, end_date, owner_name,
        owner_email, slug, access_code, is_published, was_ever_published)
VALUES ('00000000-0000-4000-8000-0000000000c1', 'CT Forced', 'd', 'l',
        '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'ct_forced',
        'AAAAAA', true, true);
SELECT id, access_code <> 'AAAAAA' AS code_generated, is_published, was_ever_published
  FROM conference.conferences WHERE slug = 'ct_forced';
INSERT INTO conference.conferences
       (id, name, description, location, start_date, end_date, owner_name,
        owner_email, slug)
VALUES (NULL, 'CT Null Id', 'd', 'l', '2030-01-01', '2030-01-02', 'o',
        'o@contoso.com', 'ct_null_id');
SELECT id IS NOT NULL AS id_generated FROM conference.conferences WHERE slug = 'ct_null_id';

SELECT pg_temp.event_count() AS events_before_refusals \gset

-- Required conference fields: null, empty and whitespace-only are refused.
CREATE TEMP TABLE conf_cases (label text, stmt text);
INSERT INTO conf_cases VALUES
  ('name null',        $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES (NULL, 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'ct_bad')$$),
  ('name empty',       $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('', 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'ct_bad')$$),
  ('name blank',       $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES (E' \t\n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'ct_bad')$$),
  ('description',      $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', ' ', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'ct_bad')$$),
  ('location',         $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', NULL, '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'ct_bad')$$),
  ('start_date',       $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', NULL, '2030-01-02', 'o', 'o@contoso.com', 'ct_bad')$$),
  ('end_date',         $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', '2030-01-01', NULL, 'o', 'o@contoso.com', 'ct_bad')$$),
  ('owner_name',       $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', '2030-01-01', '2030-01-02', '', 'o@contoso.com', 'ct_bad')$$),
  ('owner_email null', $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', NULL, 'ct_bad')$$),
  ('slug missing',     $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email) VALUES ('n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com')$$),
  ('slug blank',       $$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', '  ')$$);
SELECT label, pg_temp.try(stmt) FROM conf_cases;

-- Owner email: the reference pattern must match the whole value.
SELECT e AS owner_email,
       pg_temp.try(format($$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', %L, 'ct_email')$$, e)) AS result
  FROM unnest(ARRAY['plain', 'a@b', '@contoso.com', 'a@contoso.', 'a..b@contoso.com',
                    '.a@contoso.com', 'a b@contoso.com', 'a@contoso.com ', 'x a@contoso.com',
                    'a@@contoso.com']) AS e;

-- Accepted forms.
SELECT e AS owner_email, conference.is_valid_email(e) AS valid
  FROM unnest(ARRAY['a@contoso.com', 'first.last@mail.contoso.co.uk', 'a-b_c@x-y.z1',
                    'user.name-1@contoso.com', 'a.b.c@d.e']) AS e;

-- Unicode: \w and \s are Unicode classes, as in .NET (checked where the
-- database is UTF8; in other encodings the match is ASCII only).
SELECT getdatabaseencoding() <> 'UTF8'
       OR conference.is_valid_email(convert_from('\x6ac3b67267406dc3bc6c6c65722e6465', 'UTF8')) AS unicode_email_valid,
       getdatabaseencoding() <> 'UTF8'
       OR conference.is_valid_slug(convert_from('\x63745f6dc3bc6e6368656e', 'UTF8')) AS unicode_slug_valid,
       getdatabaseencoding() <> 'UTF8'
       OR conference.is_blank(convert_from('\xc2a0e28083', 'UTF8')) AS unicode_spaces_blank;

-- Slug: letters, digits and underscores only.
SELECT s AS slug,
       pg_temp.try(format($$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', %L)$$, s)) AS result
  FROM unnest(ARRAY['ct-dash', 'ct space', 'ct.dot', 'ct/slash', ' ct_lead']) AS s;
SELECT s AS slug, conference.is_valid_slug(s) AS valid
  FROM unnest(ARRAY['ct_ok', 'CT2030', '_']) AS s;

-- Slug unique, also without regard to case.
SELECT pg_temp.try($$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'ct_summit')$$) AS same_slug;
SELECT pg_temp.try($$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'CT_Summit')$$) AS same_slug_other_case;
-- Two rows of one statement with the same slug: the second is refused, the
-- whole statement writes nothing.
SELECT pg_temp.try($$INSERT INTO conference.conferences (name, description, location, start_date, end_date, owner_name, owner_email, slug) VALUES ('n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'ct_twice'), ('n', 'd', 'l', '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'ct_twice')$$) AS same_slug_one_statement;

-- Nothing was written by any refused insert.
SELECT count(*) AS refused_rows_written
  FROM conference.conferences WHERE slug ILIKE 'ct_bad%' OR slug IN ('ct_email', 'ct_twice')
     OR slug LIKE '%dash' OR slug LIKE '%.%';
SELECT pg_temp.event_count() - :events_before_refusals AS events_from_refusals;

-- Immutable after creation: slug, access code, owner name and owner email
-- (and the id, which is the stream id).  Editable fields can change.
SELECT col, pg_temp.try(format('UPDATE conference.conferences SET %I = %L WHERE slug = %L',
                               col, val, 'ct_summit')) AS result
  FROM (VALUES ('slug', 'ct_other'), ('access_code', 'ABCDEF'), ('owner_name', 'Bob'),
               ('owner_email', 'bob@contoso.com'), ('id', '00000000-0000-4000-8000-0000000000c2')) v(col, val);
SELECT pg_temp.try($$UPDATE conference.conferences SET owner_email = upper(owner_email) WHERE slug = 'ct_summit'$$) AS owner_email_case;
-- Setting an immutable field to its current value is not a change.
SELECT pg_temp.try($$UPDATE conference.conferences SET slug = slug, owner_name = owner_name WHERE slug = 'ct_summit'$$) AS same_values;

-- Editable fields are validated on update too.
SELECT col, pg_temp.try(format('UPDATE conference.conferences SET %I = %L WHERE slug = %L',
                               col, val, 'ct_summit')) AS result
  FROM (VALUES ('name', ''), ('description', ' '), ('location', NULL), ('start_date', NULL),
               ('end_date', NULL), ('is_published', NULL)) v(col, val);

-- was_ever_published is maintained by the extension.
SELECT pg_temp.try($$UPDATE conference.conferences SET was_ever_published = true WHERE slug = 'ct_summit'$$) AS set_ever_published;

SELECT pg_temp.event_count() - :events_before_refusals AS events_from_refusals;

-- Rows are unchanged.
SELECT name, description, location, tagline, twitter_search, start_date, end_date,
       owner_name, owner_email, slug, is_published, was_ever_published
  FROM conference.conferences WHERE slug = 'ct_summit';

-- publish / unpublish: argument errors.
SELECT pg_temp.try('SELECT conference.publish(NULL)') AS publish_null;
SELECT pg_temp.try($$SELECT conference.publish('00000000-0000-4000-8000-00000000dead')$$) AS publish_missing;
SELECT pg_temp.try($$SELECT conference.unpublish('00000000-0000-4000-8000-00000000dead')$$) AS unpublish_missing;

-- was_ever_published follows is_published and is never reset.
SELECT conference.publish(id) FROM conference.conferences WHERE slug = 'ct_summit';
SELECT is_published, was_ever_published FROM conference.conferences WHERE slug = 'ct_summit';
SELECT conference.unpublish(id) FROM conference.conferences WHERE slug = 'ct_summit';
SELECT is_published, was_ever_published FROM conference.conferences WHERE slug = 'ct_summit';
SELECT pg_temp.try($$UPDATE conference.conferences SET was_ever_published = false WHERE slug = 'ct_summit'$$) AS reset_ever_published;
-- Publishing through a plain UPDATE takes the same path as publish().
UPDATE conference.conferences SET is_published = true WHERE slug = 'ct_forced';
SELECT is_published, was_ever_published FROM conference.conferences WHERE slug = 'ct_forced';

-- Conferences cannot be deleted; neither table can be truncated.
SELECT pg_temp.try($$DELETE FROM conference.conferences WHERE slug = 'ct_null_id'$$) AS delete_conference;
SELECT pg_temp.try('TRUNCATE conference.conferences CASCADE') AS truncate_conferences;
SELECT pg_temp.try('TRUNCATE conference.seat_types') AS truncate_seat_types;
SELECT count(*) AS ct_conferences FROM conference.conferences WHERE slug LIKE 'ct\_%';

-- Seat types.
SELECT id AS summit FROM conference.conferences WHERE slug = 'ct_null_id' \gset
INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'summit', 'General', 'General admission', 100, 199.999);
SELECT name, description, quantity, price, substr(id::text, 15, 1) AS uuid_version
  FROM conference.seat_types WHERE conference_id = :'summit';

SELECT pg_temp.event_count() AS events_before_seat_refusals \gset
CREATE TEMP TABLE seat_cases (label text, name text, description text, quantity text, price text);
INSERT INTO seat_cases VALUES
  ('name null',         NULL, 'd', '1', '1'),
  ('name blank',        '   ', 'd', '1', '1'),
  ('name 1 char',       'A', 'd', '1', '1'),
  ('name 2 chars',      'AB', 'd', '1', '1'),
  ('name 70 chars',     repeat('n', 70), 'd', '1', '1'),
  ('name 71 chars',     repeat('n', 71), 'd', '1', '1'),
  ('description null',  'Seat', NULL, '1', '1'),
  ('description empty', 'Seat', '', '1', '1'),
  ('description 250',   'Seat', repeat('d', 250), '1', '1'),
  ('description 251',   'Seat', repeat('d', 251), '1', '1'),
  ('quantity null',     'Seat', 'd', NULL, '1'),
  ('quantity -1',       'Seat', 'd', '-1', '1'),
  ('quantity 0',        'Seat', 'd', '0', '1'),
  ('quantity 100000',   'Seat', 'd', '100000', '1'),
  ('quantity 100001',   'Seat', 'd', '100001', '1'),
  ('price null',        'Seat', 'd', '1', NULL),
  ('price -0.01',       'Seat', 'd', '1', '-0.01'),
  ('price 0',           'Seat', 'd', '1', '0'),
  ('price 50000',       'Seat', 'd', '1', '50000'),
  ('price 50000.01',    'Seat', 'd', '1', '50000.01');
SELECT label, pg_temp.try(format(
         'INSERT INTO conference.seat_types (conference_id, name, description, quantity, price) VALUES (%L, %L, %L, %L, %L)',
         :'summit', name, description, quantity, price)) AS result
  FROM seat_cases;
SELECT count(*) AS seat_types_written FROM conference.seat_types WHERE conference_id = :'summit';

-- Unknown conference; missing conference.
SELECT pg_temp.try($$INSERT INTO conference.seat_types (conference_id, name, description, quantity, price) VALUES ('00000000-0000-4000-8000-00000000dead', 'Seat', 'd', 1, 1)$$) AS unknown_conference;
SELECT pg_temp.try($$INSERT INTO conference.seat_types (name, description, quantity, price) VALUES ('Seat', 'd', 1, 1)$$) AS no_conference;

-- Updates are validated; id and conference cannot change.
SELECT col, pg_temp.try(format('UPDATE conference.seat_types SET %I = %L WHERE conference_id = %L AND name = %L',
                               col, val, :'summit', 'General')) AS result
  FROM (VALUES ('name', 'X'), ('description', repeat('d', 251)), ('quantity', '100001'),
               ('price', '-1'), ('id', '00000000-0000-4000-8000-0000000000c3'),
               ('conference_id', '00000000-0000-4000-8000-0000000000c1')) v(col, val);
SELECT pg_temp.event_count() - :events_before_seat_refusals AS events_from_seat_refusals;

-- Deleting a seat type: allowed before the first publish, refused after.
DELETE FROM conference.seat_types WHERE conference_id = :'summit' AND name = 'AB';
SELECT conference.publish(:'summit');
SELECT pg_temp.try(format('DELETE FROM conference.seat_types WHERE conference_id = %L AND name = %L',
                          :'summit', 'General')) AS delete_after_publish;
SELECT conference.unpublish(:'summit');
SELECT pg_temp.try(format('DELETE FROM conference.seat_types WHERE conference_id = %L AND name = %L',
                          :'summit', 'General')) AS delete_after_unpublish;
SELECT name FROM conference.seat_types WHERE conference_id = :'summit' ORDER BY name COLLATE "C";

-- locate: owner email (any case) and access code (exact).
SELECT id AS ct_id, access_code AS ct_code FROM conference.conferences WHERE slug = 'ct_summit' \gset
SELECT conference.locate('ann.owner@contoso.com', :'ct_code') = :'ct_id' AS found,
       conference.locate('ANN.Owner@Contoso.com', :'ct_code') = :'ct_id' AS email_any_case,
       conference.locate('ann.owner@contoso.com', lower(:'ct_code')) AS code_lower_case,
       conference.locate('ann.owner@contoso.com', :'ct_code' || ' ') AS code_trailing_space,
       conference.locate('other@contoso.com', :'ct_code') AS other_email,
       conference.locate('ann.owner@contoso.com', 'ZZZZZZ') AS other_code,
       conference.locate(NULL, :'ct_code') AS null_email,
       conference.locate('ann.owner@contoso.com', NULL) AS null_code;
