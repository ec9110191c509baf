-- Event store core: the sequencer gives committed events dense global
-- positions in commit order; rolled-back events never get one.
-- (Concurrent interleavings are in test/isolation/specs/global_order.spec.)
\set test_db cqrs_store_sequencer
\i sql/include/fresh_database.sql

-- A readable name for the test streams.
CREATE FUNCTION s(name text) RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT cqrs.derived_stream_id(name, '00000000-0000-4000-8000-000000000000') $$;
CREATE FUNCTION ev(label text) RETURNS jsonb LANGUAGE sql IMMUTABLE
    AS $$ SELECT jsonb_build_array(jsonb_build_object('type', 'Seq', 'data', jsonb_build_object('label', label))) $$;
CREATE FUNCTION evs(label text, n int) RETURNS jsonb LANGUAGE sql IMMUTABLE
    AS $$ SELECT jsonb_agg(jsonb_build_object('type', 'Seq', 'data', jsonb_build_object('label', label || i)) ORDER BY i)
            FROM generate_series(1, n) i $$;
-- The log in global order, labels only.
CREATE VIEW log AS
SELECT global_position AS pos, data->>'label' AS label
  FROM cqrs.events WHERE global_position > 0;
-- Positions are exactly 1..N, each once, and the sequencer state agrees.
CREATE VIEW density AS
SELECT count(*) AS sequenced,
       count(*) = coalesce(max(global_position), 0)
         AND count(DISTINCT global_position) = count(*)
         AND coalesce(min(global_position), 1) = 1 AS dense,
       coalesce(max(global_position), 0) = (SELECT last_position FROM cqrs.sequencer_state) AS state_agrees
  FROM cqrs.events WHERE global_position > 0;

\echo == nothing to do on an empty log
SELECT last_position, last_batch_at IS NULL AS never_ran, unsequenced_events FROM cqrs.sequencer_status;
SELECT cqrs.sequence_events();

\echo == positions dense from 1, in commit order across transactions
SELECT cqrs.append(s('a'), 'SeqTest', -1, evs('a', 3));
SELECT cqrs.append(s('b'), 'SeqTest', -1, evs('b', 2));
SELECT last_position, unsequenced_events FROM cqrs.sequencer_status;
SELECT count(*) AS readable FROM cqrs.read_all();
SELECT cqrs.sequence_events();
SELECT last_position, last_batch_at IS NOT NULL AS ran, unsequenced_events FROM cqrs.sequencer_status;
SELECT * FROM log ORDER BY pos;
SELECT cqrs.sequence_events();
-- a later commit, a later position
SELECT cqrs.append(s('b'), 'SeqTest', 1, ev('b3'));
SELECT cqrs.append(s('a'), 'SeqTest', 2, ev('a4'));
SELECT cqrs.sequence_events();
SELECT * FROM log WHERE pos > 5 ORDER BY pos;

\echo == within a transaction, positions follow the order of the appends
BEGIN;
SELECT cqrs.append(s('x'), 'SeqTest', NULL, ev('x1'));
SELECT cqrs.append(s('y'), 'SeqTest', NULL, evs('y', 2));
SELECT cqrs.append(s('x'), 'SeqTest', NULL, ev('x2'));
SELECT cqrs.append(s('z'), 'SeqTest', NULL, evs('z', 5));
SELECT cqrs.append(s('y'), 'SeqTest', NULL, ev('y3'));
COMMIT;
SELECT cqrs.sequence_events();
SELECT * FROM log WHERE pos > 7 ORDER BY pos;

\echo == rolled-back appends never get positions
BEGIN;
SELECT cqrs.append(s('gone'), 'SeqTest', NULL, evs('gone', 5));
SELECT cqrs.append(s('a'), 'SeqTest', 3, ev('gone-a'));
ROLLBACK;
SELECT cqrs.sequence_events();
SELECT cqrs.append(s('a'), 'SeqTest', 3, ev('a5'));
SELECT cqrs.sequence_events();
SELECT * FROM log WHERE pos > 17 ORDER BY pos;

\echo == events of a rolled-back savepoint never get positions
BEGIN;
SELECT cqrs.append(s('sp'), 'SeqTest', NULL, ev('sp1'));
SAVEPOINT before_mistake;
SELECT cqrs.append(s('sp'), 'SeqTest', NULL, ev('sp-gone'));
SELECT cqrs.append(s('sp-gone'), 'SeqTest', NULL, evs('sp-gone', 4));
ROLLBACK TO SAVEPOINT before_mistake;
SELECT cqrs.append(s('sp'), 'SeqTest', NULL, ev('sp2'));
SAVEPOINT kept;
SELECT cqrs.append(s('sp'), 'SeqTest', NULL, ev('sp3'));
RELEASE SAVEPOINT kept;
COMMIT;
-- and of a PL/pgSQL exception block (a subtransaction, too)
DO $$
BEGIN
    BEGIN
        PERFORM cqrs.append(s('sp'), 'SeqTest', NULL, ev('sp-gone-plpgsql'));
        RAISE EXCEPTION 'changed my mind';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    PERFORM cqrs.append(s('sp'), 'SeqTest', NULL, ev('sp4'));
END $$;
SELECT cqrs.sequence_events();
SELECT * FROM log WHERE pos > 18 ORDER BY pos;
SELECT version, data->>'label' AS label FROM cqrs.read_stream(s('sp'));

\echo == sequence_events(max_count) numbers at most max_count events per call
SELECT cqrs.append(s('m'), 'SeqTest', NULL, evs('m', 5));
SELECT cqrs.sequence_events(2);
SELECT last_position, unsequenced_events FROM cqrs.sequencer_status;
SELECT cqrs.sequence_events(2);
SELECT cqrs.sequence_events(2);
SELECT cqrs.sequence_events(2);
SELECT * FROM log WHERE pos > 22 ORDER BY pos;
SELECT try($$SELECT cqrs.sequence_events(0)$$);
SELECT try($$SELECT cqrs.sequence_events(-1)$$);
SELECT cqrs.sequence_events(NULL) IS NULL AS strict;

\echo == drain runs the sequencer until nothing is left (batches of sequencer_batch_size)
SET cqrs_conf.sequencer_batch_size = 2;
SELECT cqrs.append(s('n'), 'SeqTest', NULL, evs('n', 7));
SELECT unsequenced_events FROM cqrs.sequencer_status;
SELECT cqrs.drain() >= 7 AS drained_all;
SELECT last_position, unsequenced_events FROM cqrs.sequencer_status;
RESET cqrs_conf.sequencer_batch_size;

\echo == sequencing inside the appending transaction: undone with it
BEGIN;
SELECT cqrs.append(s('own'), 'SeqTest', NULL, evs('own', 2));
SELECT cqrs.drain() >= 2 AS drained;
SELECT * FROM log WHERE pos > 34 ORDER BY pos;
SELECT last_position FROM cqrs.sequencer_status;
ROLLBACK;
SELECT last_position, unsequenced_events FROM cqrs.sequencer_status;
BEGIN;
SELECT cqrs.append(s('own'), 'SeqTest', NULL, ev('own-kept'));
SELECT cqrs.drain() >= 1 AS drained;
COMMIT;
SELECT * FROM log WHERE pos > 34 ORDER BY pos;

\echo == a prepared transaction is sequenced when it commits, never if it rolls back
BEGIN;
SELECT cqrs.append(s('p'), 'SeqTest', NULL, ev('prepared-committed'));
PREPARE TRANSACTION 'cqrs_store_sequencer_1';
BEGIN;
SELECT cqrs.append(s('q'), 'SeqTest', NULL, ev('prepared-rolled-back'));
PREPARE TRANSACTION 'cqrs_store_sequencer_2';
SELECT cqrs.sequence_events();
SELECT unsequenced_events FROM cqrs.sequencer_status;
COMMIT PREPARED 'cqrs_store_sequencer_1';
ROLLBACK PREPARED 'cqrs_store_sequencer_2';
SELECT cqrs.sequence_events();
SELECT * FROM log WHERE pos > 35 ORDER BY pos;

\echo == a batch cut short by its limit keeps the work-list horizon where it was
-- three transactions, three transaction ids; one event numbered per call
SELECT cqrs.append(s('h1'), 'SeqTest', NULL, ev('h1'));
SELECT cqrs.append(s('h2'), 'SeqTest', NULL, ev('h2'));
SELECT cqrs.append(s('h3'), 'SeqTest', NULL, ev('h3'));
SELECT horizon AS horizon_before FROM cqrs.sequencer_state \gset
SELECT cqrs.sequence_events(1);
SELECT horizon = :'horizon_before'::xid8 AS horizon_kept FROM cqrs.sequencer_state;
SELECT cqrs.sequence_events(1);
SELECT cqrs.sequence_events(1);
SELECT unsequenced_events FROM cqrs.sequencer_status;
SELECT label FROM log WHERE label LIKE 'h_' ORDER BY pos;
-- a complete batch moves it past every transaction that had ended
SELECT cqrs.append(s('h4'), 'SeqTest', NULL, ev('h4'));
SELECT cqrs.sequence_events();
SELECT horizon > :'horizon_before'::xid8 AS horizon_moved,
       horizon <= pg_snapshot_xmin(pg_current_snapshot()) AS horizon_not_ahead
  FROM cqrs.sequencer_state;

\echo == a step with nothing to do writes nothing (no transaction id, no WAL)
SELECT cqrs.drain() >= 0 AS projections_caught_up;
BEGIN;
SELECT cqrs.sequence_events() AS numbered;
SELECT cqrs.drain() AS drained;
SELECT pg_current_xact_id_if_assigned() IS NULL AS no_xid;
COMMIT;

\echo == numbering keeps every index of the log complete, including one a DBA added
CREATE EXTENSION amcheck;
CREATE INDEX events_label_idx ON cqrs.events ((data->>'label'))
    WHERE event_type = 'Seq';
SELECT cqrs.append(s('ix'), 'SeqTest', NULL, evs('ix', 3));
SELECT cqrs.sequence_events() AS numbered;
SELECT c.relname, bt_index_check(c.oid, true) IS NOT NULL AS checked
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'cqrs.events'::regclass ORDER BY c.relname;
SET enable_seqscan = off;
SELECT data->>'label' AS label, global_position > 0 AS numbered
  FROM cqrs.events WHERE data->>'label' = 'ix2' AND event_type = 'Seq';
RESET enable_seqscan;
DROP INDEX cqrs.events_label_idx;

\echo == with a row trigger on UPDATE a DBA added, an UPDATE statement numbers (and fires it)
CREATE TABLE numbered_seen (pos bigint);
CREATE FUNCTION note_numbered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.numbered_seen VALUES (NEW.global_position);
    RETURN NEW;
END $$;
CREATE TRIGGER note_numbered AFTER UPDATE ON cqrs.events
    FOR EACH ROW EXECUTE FUNCTION note_numbered();
SELECT cqrs.append(s('tr'), 'SeqTest', NULL, evs('tr', 2));
SELECT cqrs.sequence_events() AS numbered;
SELECT count(*) AS trigger_saw, max(pos) = (SELECT last_position FROM cqrs.sequencer_state) AS up_to_last
  FROM numbered_seen;
DROP TRIGGER note_numbered ON cqrs.events;
SELECT cqrs.append(s('tr'), 'SeqTest', NULL, ev('tr-after'));
SELECT cqrs.sequence_events() AS numbered;
SELECT count(*) AS trigger_saw FROM numbered_seen;

\echo == numbering writes the position into the row in place: no new row version
SELECT cqrs.append(s('ip'), 'SeqTest', NULL, evs('ip', 3));
CREATE TEMP TABLE rows_before AS
    SELECT ctid AS row_id, event_id FROM cqrs.events WHERE stream_id = s('ip');
SELECT cqrs.sequence_events() AS numbered;
SELECT count(*) AS numbered_where_they_were
  FROM cqrs.events e JOIN rows_before b ON b.event_id = e.event_id AND b.row_id = e.ctid
 WHERE e.global_position > 0;

\echo == an interrupted numbering: readers do not see its positions, the next step adopts them
SELECT last_position AS last_before FROM cqrs.sequencer_state \gset
SELECT cqrs.append(s('int'), 'SeqTest', NULL, evs('int', 3));
BEGIN;
SELECT cqrs.sequence_events() AS numbered;
SELECT count(*) AS readable_inside FROM cqrs.read_all(:last_before);
ROLLBACK;
-- the positions stay in the rows (a write in place is not undone) ...
SELECT data->>'label' AS label, global_position - :last_before AS pos
  FROM cqrs.events WHERE stream_id = s('int') ORDER BY version;
-- ... but readers stop at the last position the sequencer committed
SELECT last_position = :last_before AS state_unchanged FROM cqrs.sequencer_state;
SELECT cqrs.last_position() = :last_before AS last_position_unchanged;
SELECT count(*) AS readable FROM cqrs.read_all(:last_before);
SELECT c.relname, bt_index_check(c.oid, true) IS NOT NULL AS checked
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'cqrs.events'::regclass ORDER BY c.relname;
-- an event commits meanwhile: the next step keeps the interrupted batch's
-- positions and numbers the new event after them
SELECT cqrs.append(s('int'), 'SeqTest', 2, ev('int-later'));
SELECT cqrs.sequence_events() AS readable_now;
SELECT global_position - :last_before AS pos, data->>'label' AS label
  FROM cqrs.read_all(:last_before);
SELECT * FROM density;
-- and an interrupted drain: its projections' work is undone, its positions stay
SELECT cqrs.append(s('int'), 'SeqTest', 3, ev('int-drained'));
BEGIN;
SELECT cqrs.drain() > 0 AS drained;
ROLLBACK;
SELECT cqrs.drain() > 0 AS drained_again;
SELECT global_position - :last_before AS pos, data->>'label' AS label
  FROM cqrs.read_all(:last_before + 4);

\echo == the whole log: every event has exactly one position, 1..N
SELECT count(*) FILTER (WHERE global_position = 0) AS unsequenced,
       count(*) AS events FROM cqrs.events;
SELECT * FROM density;
SELECT count(*) AS rolled_back_labels_in_log FROM log WHERE label LIKE '%gone%' OR label LIKE 'prepared-rolled%';

\i sql/include/drop_database.sql
