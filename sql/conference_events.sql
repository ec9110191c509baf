-- Conference Management: every change publishes its integration event in
-- the same transaction (domain.md 4.2-4.3, V3 rules).  Committed changes
-- always have their events, rolled-back ones never do, and an update that
-- changes nothing an event carries publishes nothing.
\set SHOW_CONTEXT never

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

-- The events of one conference (its own stream and its seat types'
-- streams: every event carries conferenceId), in global order once
-- sequenced, with the ids masked: "conference" or "seat:<name>" says which
-- stream, and the ids are checked separately.
CREATE FUNCTION pg_temp.events_of(conf uuid)
    RETURNS TABLE (stream text, version bigint, event_type text, data jsonb)
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cqrs.sequence_events();
    RETURN QUERY
    SELECT CASE WHEN e.stream_id = conf THEN 'conference'
                ELSE 'seat:' || (e.data->>'name') END,
           e.version, e.event_type, e.data - 'conferenceId' - 'seatTypeId'
      FROM cqrs.events e
     WHERE e.data->>'conferenceId' = conf::text
       AND e.stream_type IN ('Conference', 'SeatType')
     ORDER BY e.global_position NULLS LAST, e.stream_id, e.version;
END
$$;

CREATE FUNCTION pg_temp.count_of(conf uuid) RETURNS bigint
    LANGUAGE sql AS $$
    SELECT count(*) FROM cqrs.events e
     WHERE e.data->>'conferenceId' = conf::text
       AND e.stream_type IN ('Conference', 'SeatType')
$$;

-- All events of this context (the deltas below count only these, so that
-- events other contexts derive from them cannot disturb the counts).
CREATE FUNCTION pg_temp.all_count() RETURNS bigint
    LANGUAGE sql AS $$
    SELECT count(*) FROM cqrs.events e WHERE e.stream_type IN ('Conference', 'SeatType')
$$;

-- Every event of this file has the right stream type and ids.
CREATE FUNCTION pg_temp.ids_ok() RETURNS TABLE (event_type text, stream_type text, events bigint, ids_ok boolean)
    LANGUAGE sql AS $$
    SELECT e.event_type, e.stream_type, count(*),
           bool_and(CASE e.stream_type
                      WHEN 'Conference' THEN e.data->>'conferenceId' = e.stream_id::text
                                             AND c.id IS NOT NULL
                      WHEN 'SeatType' THEN e.data->>'seatTypeId' = e.stream_id::text
                                           AND s.conference_id::text = e.data->>'conferenceId'
                    END
                    AND e.metadata->>'origin' = 'conference-management')
      FROM cqrs.events e
      LEFT JOIN conference.conferences c ON c.id = e.stream_id
      LEFT JOIN conference.seat_types s ON s.id = e.stream_id
     WHERE e.metadata->>'origin' = 'conference-management'
       AND e.data->>'conferenceId' IN (SELECT id::text FROM conference.conferences WHERE slug LIKE 'ce\_%')
     GROUP BY 1, 2 ORDER BY 1, 2
$$;

------------------------------------------------------------------------
-- ConferenceCreated: always, although the conference starts unpublished.
INSERT INTO conference.conferences
       (name, description, location, tagline, twitter_search, start_date,
        end_date, owner_name, owner_email, slug)
VALUES ('CE Summit', 'Events test', 'Redmond', NULL, '#ce', '2030-05-01',
        '2030-05-03', 'Ann Owner', 'ann@contoso.com', 'ce_main')
RETURNING id AS main \gset
SELECT * FROM pg_temp.events_of(:'main');
SELECT cqrs.stream_version(:'main') AS conference_version;

-- Seat types of a never-published conference publish nothing: created,
-- updated, deleted.
INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'main', 'General', 'General admission', 100, 199),
       (:'main', 'Workshop', 'Workshop day', 20, 99.5),
       (:'main', 'Scrapped', 'Never sold', 5, 10);
UPDATE conference.seat_types SET quantity = 120 WHERE conference_id = :'main' AND name = 'General';
DELETE FROM conference.seat_types WHERE conference_id = :'main' AND name = 'Scrapped';
SELECT pg_temp.count_of(:'main') AS events;

-- ConferenceUpdated: full details, on any change of what it carries.
UPDATE conference.conferences SET tagline = 'Patterns', location = 'Seattle' WHERE id = :'main';
SELECT * FROM pg_temp.events_of(:'main') WHERE version > 0 AND stream = 'conference';

-- No ConferenceUpdated when nothing it carries changed.
UPDATE conference.conferences SET tagline = tagline, name = 'CE Summit' WHERE id = :'main';
UPDATE conference.conferences SET twitter_search = '#ce' WHERE id = :'main';
SELECT pg_temp.count_of(:'main') AS events;

-- Clearing an optional field is a change (carried as null).
UPDATE conference.conferences SET twitter_search = NULL WHERE id = :'main';
SELECT event_type, data->'twitterSearch' AS twitter_search
  FROM pg_temp.events_of(:'main') WHERE stream = 'conference' ORDER BY version DESC LIMIT 1;

------------------------------------------------------------------------
-- First publish: SeatCreated for every existing seat type (with its
-- current values), then ConferencePublished.
SELECT pg_temp.count_of(:'main') AS before_publish \gset
SELECT conference.publish(:'main');
SELECT * FROM pg_temp.events_of(:'main') OFFSET :before_publish;

-- Publishing a published conference changes nothing and publishes nothing.
SELECT pg_temp.count_of(:'main') AS after_publish \gset
SELECT conference.publish(:'main');
UPDATE conference.conferences SET is_published = true WHERE id = :'main';
SELECT pg_temp.count_of(:'main') - :after_publish AS events_from_second_publish;

-- Once published: a new seat type is announced at once, a change of one
-- with SeatUpdated (full details), an unchanged one with nothing.
INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'main', 'VIP', 'Front row', 10, 999.99);
UPDATE conference.seat_types SET price = 149 WHERE conference_id = :'main' AND name = 'General';
UPDATE conference.seat_types SET quantity = quantity, description = 'Workshop day'
 WHERE conference_id = :'main' AND name = 'Workshop';
UPDATE conference.seat_types SET price = 149.000 WHERE conference_id = :'main' AND name = 'General';
SELECT * FROM pg_temp.events_of(:'main') OFFSET :before_publish;

-- Unpublish: ConferenceUnpublished; again: nothing.  was_ever_published
-- stays true, so seat types keep publishing their events.
SELECT pg_temp.count_of(:'main') AS before_unpublish \gset
SELECT conference.unpublish(:'main');
SELECT conference.unpublish(:'main');
UPDATE conference.seat_types SET quantity = 0 WHERE conference_id = :'main' AND name = 'VIP';
INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'main', 'Online', 'Streaming pass', 1000, 0);
-- Publishing again: ConferencePublished only (seat types were announced).
SELECT conference.publish(:'main');
SELECT * FROM pg_temp.events_of(:'main') OFFSET :before_unpublish;

-- One UPDATE that changes details and the published flag: ConferenceUpdated,
-- then ConferenceUnpublished.
SELECT pg_temp.count_of(:'main') AS before_combined \gset
UPDATE conference.conferences SET name = 'CE Summit 2030', is_published = false WHERE id = :'main';
SELECT stream, version, event_type, data->>'name' AS name
  FROM pg_temp.events_of(:'main') OFFSET :before_combined;

-- Stream versions: 0-based, one per event.
SELECT cqrs.stream_version(:'main') AS conference_version,
       (SELECT count(*) - 1 FROM cqrs.read_stream(:'main')) AS conference_events_minus_1;
SELECT s.name, cqrs.stream_version(s.id) AS seat_version
  FROM conference.seat_types s WHERE s.conference_id = :'main' ORDER BY s.name;

------------------------------------------------------------------------
-- A first publish through a plain UPDATE that also edits details:
-- ConferenceUpdated, SeatCreated for each seat type, ConferencePublished.
INSERT INTO conference.conferences
       (name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('CE Update', 'd', 'l', '2030-06-01', '2030-06-02', 'Bob', 'bob@contoso.com', 'ce_update')
RETURNING id AS upd \gset
INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'upd', 'Standard', 'Standard seat', 50, 10);
UPDATE conference.conferences SET location = 'Oslo', is_published = true WHERE id = :'upd';
SELECT stream, version, event_type FROM pg_temp.events_of(:'upd');

-- A conference without seat types: the first publish is ConferencePublished only.
INSERT INTO conference.conferences
       (name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('CE Empty', 'd', 'l', '2030-06-01', '2030-06-02', 'Bob', 'bob@contoso.com', 'ce_empty')
RETURNING id AS empty \gset
SELECT conference.publish(:'empty');
SELECT stream, version, event_type FROM pg_temp.events_of(:'empty');

-- A multi-row UPDATE: one event per changed row, none for unchanged rows.
SELECT pg_temp.all_count() AS before_multi \gset
UPDATE conference.conferences SET description = 'Shared description'
 WHERE slug IN ('ce_update', 'ce_empty', 'ce_main');
UPDATE conference.conferences SET description = 'Shared description'
 WHERE slug IN ('ce_update', 'ce_empty', 'ce_main');
SELECT pg_temp.all_count() - :before_multi AS events_from_multi_row_update;

-- Upsert by id: the conflicting INSERT becomes an UPDATE of the same
-- conference (ConferenceUpdated); DO NOTHING publishes nothing.
INSERT INTO conference.conferences
       (id, name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('00000000-0000-4000-8000-0000000ce002', 'CE Upsert', 'd', 'l', '2030-06-01', '2030-06-02',
        'Bob', 'bob@contoso.com', 'ce_upsert')
ON CONFLICT (id) DO UPDATE SET name = excluded.name;
INSERT INTO conference.conferences
       (id, name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('00000000-0000-4000-8000-0000000ce002', 'CE Upsert 2', 'd', 'l', '2030-06-01', '2030-06-02',
        'Bob', 'bob@contoso.com', 'ce_upsert')
ON CONFLICT (id) DO UPDATE SET name = excluded.name;
INSERT INTO conference.conferences
       (id, name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('00000000-0000-4000-8000-0000000ce002', 'CE Upsert 3', 'd', 'l', '2030-06-01', '2030-06-02',
        'Bob', 'bob@contoso.com', 'ce_upsert')
ON CONFLICT (id) DO NOTHING;
SELECT stream, version, event_type, data->>'name' AS name
  FROM pg_temp.events_of('00000000-0000-4000-8000-0000000ce002');

------------------------------------------------------------------------
-- Rollback: a rolled-back change publishes nothing.  (Committed events are
-- sequenced first, so that global_position = 0 below means "appended
-- by this open transaction".)
SELECT pg_temp.all_count() AS before_rollback, cqrs.sequence_events() AS sequenced \gset
BEGIN;
INSERT INTO conference.conferences
       (name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('CE Rollback', 'd', 'l', '2030-06-01', '2030-06-02', 'Bob', 'bob@contoso.com', 'ce_rollback')
RETURNING id AS rb \gset
INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'rb', 'Seat', 'A seat', 5, 5);
SELECT conference.publish(:'rb');
UPDATE conference.seat_types SET quantity = 3 WHERE conference_id = :'main' AND name = 'General';
-- Inside the transaction the events are there, in the same transaction as the rows.
SELECT event_type, count(*) FROM cqrs.events
 WHERE data->>'conferenceId' IN (:'rb', :'main') AND global_position = 0
   AND stream_type IN ('Conference', 'SeatType')
 GROUP BY 1 ORDER BY 1;
ROLLBACK;
SELECT pg_temp.all_count() - :before_rollback AS events_after_rollback,
       (SELECT count(*) FROM conference.conferences WHERE slug = 'ce_rollback') AS rows_after_rollback,
       cqrs.stream_version(:'rb') AS rolled_back_stream_version,
       (SELECT quantity FROM conference.seat_types WHERE conference_id = :'main' AND name = 'General') AS general_quantity;

-- Rollback to a savepoint drops the events of the undone statements only.
BEGIN;
SAVEPOINT s1;
UPDATE conference.conferences SET name = 'CE Undone' WHERE id = :'main';
ROLLBACK TO SAVEPOINT s1;
UPDATE conference.conferences SET location = 'Lisbon' WHERE id = :'main';
COMMIT;
SELECT stream, version, event_type, data->>'name' AS name, data->>'location' AS location
  FROM pg_temp.events_of(:'main') ORDER BY version DESC LIMIT 1;

-- An error later in the transaction takes the earlier events with it.
SELECT pg_temp.all_count() AS before_error \gset
BEGIN;
UPDATE conference.conferences SET name = 'CE Lost' WHERE id = :'main';
UPDATE conference.seat_types SET quantity = -5 WHERE conference_id = :'main' AND name = 'General';
COMMIT;
SELECT pg_temp.all_count() - :before_error AS events_after_error,
       (SELECT name FROM conference.conferences WHERE id = :'main') AS name;

-- A failing statement publishes nothing for its other rows either.
SELECT pg_temp.try(format($$INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
                            VALUES (%L, 'Fine', 'A valid row', 1, 1), (%L, 'Bad', 'Quantity out of range', 100001, 1)$$,
                          :'main', :'main')) AS two_rows_one_bad;
SELECT pg_temp.all_count() - :before_error AS events_after_failed_statement,
       (SELECT count(*) FROM conference.seat_types WHERE conference_id = :'main' AND name = 'Fine') AS rows_written;

-- The append is part of the change: when it fails, the row is not written.
SELECT cqrs.append('00000000-0000-4000-8000-0000000ce001', 'Other', -1,
                   '[{"type": "Something", "data": {}}]') AS foreign_stream_version;
SELECT pg_temp.try($$INSERT INTO conference.conferences
       (id, name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('00000000-0000-4000-8000-0000000ce001', 'CE Clash', 'd', 'l', '2030-06-01', '2030-06-02', 'Bob', 'bob@contoso.com', 'ce_clash')$$) AS append_fails;
SELECT count(*) AS clash_rows FROM conference.conferences WHERE slug = 'ce_clash';

-- Commit: a committed change always has its events.
BEGIN;
INSERT INTO conference.conferences
       (name, description, location, start_date, end_date, owner_name, owner_email, slug)
VALUES ('CE Commit', 'd', 'l', '2030-06-01', '2030-06-02', 'Bob', 'bob@contoso.com', 'ce_commit')
RETURNING id AS cm \gset
INSERT INTO conference.seat_types (conference_id, name, description, quantity, price)
VALUES (:'cm', 'Seat', 'A seat', 5, 5);
SELECT conference.publish(:'cm');
COMMIT;
SELECT stream, version, event_type FROM pg_temp.events_of(:'cm');

-- Stream types, ids in data, metadata.
SELECT * FROM pg_temp.ids_ok();
