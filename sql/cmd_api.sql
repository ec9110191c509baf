-- The command API (design.md section 4): cqrs.send, the command log and
-- its exactly-once effect, payload validation, business rejections,
-- cqrs.enqueue / cqrs.command_status / due times handled by cqrs.drain().
\set QUIET on
\i sql/cmd_helpers.inc
\set QUIET off

SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'cqrs.command_result'::regclass AND attnum > 0
 ORDER BY attnum;

INSERT INTO conference.conferences (id, name, description, location, start_date,
       end_date, owner_name, owner_email, slug)
VALUES (t_uuid('5c0'), 'Cmd Conf', 'd', 'l', '2030-01-01', '2030-01-02', 'o',
        'o@contoso.com', 'cmd_api_conf');
INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
VALUES (t_uuid('5a1'), t_uuid('5c0'), 'General', 'g', 10, 100.00);

-- A command is handled at once and logged.
CREATE TEMP TABLE first_result AS
SELECT * FROM cqrs.send('RegisterToConference',
              jsonb_build_object('orderId', t_uuid('5d1'), 'conferenceId', t_uuid('5c0'),
                                 'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', 2))),
              t_uuid('5e1'));
SELECT t_show(ROW(r.*)::cqrs.command_result) FROM first_result r;
SELECT count(*) AS events FROM cqrs.events WHERE stream_id = t_uuid('5d1');
-- The log keeps the number of events, not a copy: they are the stream's
-- versions version - event_count + 1 .. version.
SELECT t_short(command_type || ' ' || status || ' ' || stream_id::text) AS logged,
       version, event_count, handled_at IS NOT NULL AS handled
  FROM cqrs.commands WHERE command_id = t_uuid('5e1');
-- command_status rebuilds them exactly as the send returned them.
SELECT (SELECT events FROM first_result) = (cqrs.command_status(t_uuid('5e1'))).events
       AS status_has_sent_events,
       jsonb_array_length((cqrs.command_status(t_uuid('5e1'))).events) AS n;

-- Event metadata: the command id, also as correlation id.
SELECT DISTINCT t_short(metadata::text) FROM cqrs.events WHERE stream_id = t_uuid('5d1');

-- The same command id again: the original result, nothing written.
SELECT t_send('RegisterToConference',
              jsonb_build_object('orderId', t_uuid('5d1'), 'conferenceId', t_uuid('5c0'),
                                 'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', 2))),
              t_uuid('5e1'));
SELECT count(*) AS events FROM cqrs.events WHERE stream_id = t_uuid('5d1');
SELECT (cqrs.send('RegisterToConference',
              jsonb_build_object('orderId', t_uuid('5d1'), 'conferenceId', t_uuid('5c0'),
                                 'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', 2))),
              t_uuid('5e1'))).events = (SELECT events FROM first_result)
       AS same_events;

-- The same id for another command is an error.
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('5d1')), t_uuid('5e1'));
SELECT t_send('RegisterToConference',
              jsonb_build_object('orderId', t_uuid('5d1'), 'conferenceId', t_uuid('5c0'),
                                 'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', 3))),
              t_uuid('5e1'));

-- Malformed payloads: 22023 / 22P02 naming the field, nothing written.
SELECT count(*) AS commands_before FROM cqrs.commands \gset
SELECT count(*) AS events_before FROM cqrs.events \gset
SELECT t_error('NoSuchCommand', '{}');
SELECT t_error('RegisterToConference', '[]');
SELECT t_error('RegisterToConference', jsonb_build_object('conferenceId', t_uuid('5c0'), 'seats', '[]'::jsonb));
SELECT t_error('RegisterToConference', jsonb_build_object('orderId', 'not-a-uuid', 'conferenceId', t_uuid('5c0'), 'seats', '[]'::jsonb));
SELECT t_error('RegisterToConference', jsonb_build_object('orderId', 42, 'conferenceId', t_uuid('5c0'), 'seats', '[]'::jsonb));
SELECT t_error('RegisterToConference', jsonb_build_object('orderId', t_uuid('5d2'), 'conferenceId', t_uuid('5c0'), 'seats', '{}'::jsonb));
SELECT t_error('RegisterToConference', jsonb_build_object('orderId', t_uuid('5d2'), 'conferenceId', t_uuid('5c0'),
               'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', -1))));
SELECT t_error('RegisterToConference', jsonb_build_object('orderId', t_uuid('5d2'), 'conferenceId', t_uuid('5c0'),
               'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', 1.5))));
SELECT t_error('RegisterToConference', jsonb_build_object('orderId', t_uuid('5d2'), 'conferenceId', t_uuid('5c0'),
               'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', '2'))));
SELECT t_error('RegisterToConference', jsonb_build_object('orderId', t_uuid('5d2'), 'conferenceId', t_uuid('5c0'),
               'seats', jsonb_build_array(jsonb_build_object('quantity', 2))));
SELECT t_error('RegisterToConference', jsonb_build_object('orderId', t_uuid('5d2'), 'conferenceId', t_uuid('5c0'),
               'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', 0))));
SELECT t_error('RegisterToConference', jsonb_build_object('orderId', t_uuid('5d2'), 'conferenceId', t_uuid('5c0'),
               'seats', '[]'::jsonb));
SELECT t_error('MarkSeatsAsReserved', jsonb_build_object('orderId', t_uuid('5d1'), 'seats', '[]'::jsonb,
               'expiration', 'tomorrow-ish'));
SELECT t_error('AssignRegistrantDetails', jsonb_build_object('orderId', t_uuid('5d1'),
               'firstName', 'A', 'lastName', 'B', 'email', 'not an email'));
SELECT t_error('AssignRegistrantDetails', jsonb_build_object('orderId', t_uuid('5d1'),
               'firstName', '  ', 'lastName', 'B', 'email', 'a@b.com'));
SELECT t_error('AddSeats', jsonb_build_object('conferenceId', t_uuid('5c0'), 'seatType', t_uuid('5a1'), 'quantity', -5));
SELECT cqrs.send(NULL, '{}');
SELECT cqrs.send('ConfirmOrder', NULL);
SELECT (SELECT count(*) FROM cqrs.commands) - :commands_before AS commands_written,
       (SELECT count(*) FROM cqrs.events) - :events_before AS events_written;

-- A business rejection: status rejected, a reason, no events, logged; a
-- retry gets the same answer.
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('5d9')), t_uuid('5e2'));
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('5d9')), t_uuid('5e2'));
SELECT t_show(cqrs.command_status(t_uuid('5e2')));
SELECT count(*) AS events FROM cqrs.events WHERE stream_id = t_uuid('5d9');
SELECT cqrs.command_status(t_uuid('5ff')) IS NULL AS unknown_is_null;

-- Enqueue: validated now, stored pending, handled by cqrs.drain().
SELECT cqrs.enqueue('NoSuchCommand', '{}');
SELECT cqrs.enqueue('ConfirmOrder', '{"orderId": 1}');
SELECT t_short(cqrs.enqueue('ConfirmOrder', jsonb_build_object('orderId', t_uuid('5d1')), t_uuid('5e3'))::text);
SELECT t_short(cqrs.enqueue('ConfirmOrder', jsonb_build_object('orderId', t_uuid('5d1')), t_uuid('5e3'))::text) AS enqueued_again;
SELECT t_show(cqrs.command_status(t_uuid('5e3')));
-- sending a pending command's id returns its pending result
SELECT t_send('ConfirmOrder', jsonb_build_object('orderId', t_uuid('5d1')), t_uuid('5e3'));
-- a scheduled command waits for its due time
SELECT t_short(cqrs.enqueue('RejectOrder', jsonb_build_object('orderId', t_uuid('5d2')), t_uuid('5e4'),
                            now() + interval '29 minutes')::text);
SELECT cqrs.drain() > 0 AS drained;
SELECT t_show(cqrs.command_status(t_uuid('5e3')));
SELECT t_show(cqrs.command_status(t_uuid('5e4')));
-- a handled pending command logs its event count too; the first command's
-- events are still its own two, though the stream has moved on
SELECT version, event_count FROM cqrs.commands WHERE command_id = t_uuid('5e3');
SELECT (cqrs.command_status(t_uuid('5e1'))).events = (SELECT events FROM first_result)
       AS first_command_events_unchanged;
SELECT cqrs.drain(now() + interval '30 minutes') > 0 AS drained_later;
SELECT t_show(cqrs.command_status(t_uuid('5e4')));

-- A pending command that fails is rejected with the error, and does not
-- stop the others (the order id names a stream of another type).
SELECT t_short(cqrs.enqueue('ConfirmOrder', jsonb_build_object('orderId', t_uuid('5c0')), t_uuid('5e5'))::text);
SELECT t_short(cqrs.enqueue('RejectOrder', jsonb_build_object('orderId', t_uuid('5d7')), t_uuid('5e6'))::text);
SELECT cqrs.drain() > 0 AS drained;
SELECT t_short(command_id::text) AS id, status, t_short(reason) AS reason, attempts
  FROM cqrs.commands WHERE command_id IN (t_uuid('5e5'), t_uuid('5e6')) ORDER BY seq;

-- The command log is written without an INSERT statement while it is as
-- installed.  Its rows keep to the table's CHECK constraints (adding a copy
-- of them checks every row logged so far) and its indexes are complete.
-- The direct writes recognise the installed tables by these CHECK
-- constraint names (src/store/event_insert.c, src/command/command_row.c);
-- a table with others goes through the statements.
SELECT conrelid::regclass AS relation, conname
  FROM pg_constraint
 WHERE contype = 'c' AND conrelid IN ('cqrs.events'::regclass, 'cqrs.commands'::regclass)
 ORDER BY 1, 2;
ALTER TABLE cqrs.commands ADD CONSTRAINT commands_recheck
    CHECK (status IN ('pending', 'accepted', 'rejected')
           AND origin IN ('send', 'enqueue')
           AND (status = 'pending') = (handled_at IS NULL));
ALTER TABLE cqrs.commands DROP CONSTRAINT commands_recheck;
CREATE EXTENSION amcheck;
SELECT c.relname, bt_index_check(c.oid, true) IS NOT NULL AS checked
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'cqrs.commands'::regclass ORDER BY c.relname;
SELECT count(DISTINCT seq) = count(*) AS seq_unique FROM cqrs.commands;
DROP EXTENSION amcheck;

-- An INSERT trigger and a CHECK constraint a DBA adds to the log apply to
-- every command logged, sent or enqueued; the log is read the same way.
CREATE TABLE commands_seen (command_id uuid, command_type text, status text, origin text);
CREATE FUNCTION note_command() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.commands_seen
    VALUES (NEW.command_id, NEW.command_type, NEW.status, NEW.origin);
    RETURN NEW;
END $$;
CREATE TRIGGER note_command AFTER INSERT ON cqrs.commands
    FOR EACH ROW EXECUTE FUNCTION note_command();
SELECT t_send('RejectOrder', jsonb_build_object('orderId', t_uuid('5d8')), t_uuid('5e7'));
SELECT t_short(cqrs.enqueue('RejectOrder', jsonb_build_object('orderId', t_uuid('5d9')), t_uuid('5e8'))::text);
-- the same ids again: found, not logged twice
SELECT t_send('RejectOrder', jsonb_build_object('orderId', t_uuid('5d8')), t_uuid('5e7'));
SELECT t_short(cqrs.enqueue('RejectOrder', jsonb_build_object('orderId', t_uuid('5d9')), t_uuid('5e8'))::text);
SELECT t_short(command_id::text) AS id, command_type, status, origin
  FROM commands_seen ORDER BY origin;
-- through the statements too: a command's event count is logged, and the
-- same id again returns its events, rebuilt from the stream
SELECT t_send('RegisterToConference',
              jsonb_build_object('orderId', t_uuid('5dd'), 'conferenceId', t_uuid('5c0'),
                                 'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', 1))),
              t_uuid('5e9'));
SELECT version, event_count FROM cqrs.commands WHERE command_id = t_uuid('5e9');
SELECT (cqrs.send('RegisterToConference',
              jsonb_build_object('orderId', t_uuid('5d1'), 'conferenceId', t_uuid('5c0'),
                                 'seats', jsonb_build_array(jsonb_build_object('seatType', t_uuid('5a1'), 'quantity', 2))),
              t_uuid('5e1'))).events = (SELECT events FROM first_result)
       AS same_events;
DROP TRIGGER note_command ON cqrs.commands;
ALTER TABLE cqrs.commands ADD CONSTRAINT no_rejections CHECK (command_type <> 'RejectOrder') NOT VALID;
SELECT split_part(t_error('RejectOrder', jsonb_build_object('orderId', t_uuid('5da'))), ' (Failing', 1) AS error;
SELECT count(*) AS logged FROM cqrs.commands WHERE payload->>'orderId' = t_uuid('5da')::text;
ALTER TABLE cqrs.commands DROP CONSTRAINT no_rejections;
SELECT t_error('RejectOrder', jsonb_build_object('orderId', t_uuid('5da')));
SELECT count(*) AS logged FROM cqrs.commands WHERE payload->>'orderId' = t_uuid('5da')::text;

-- A read-only transaction refuses commands (25006), handled or rejected,
-- sent or enqueued, and logs nothing.
CREATE FUNCTION enqueue_error(command_type text, payload jsonb) RETURNS text
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cqrs.enqueue(command_type, payload);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
BEGIN READ ONLY;
SELECT t_error('RejectOrder', jsonb_build_object('orderId', t_uuid('5db')));
SELECT t_error('ConfirmOrder', jsonb_build_object('orderId', t_uuid('5dc')));
SELECT enqueue_error('RejectOrder', jsonb_build_object('orderId', t_uuid('5db')));
COMMIT;
SELECT count(*) AS logged FROM cqrs.commands
 WHERE payload->>'orderId' IN (t_uuid('5db')::text, t_uuid('5dc')::text);
