-- Projection runner: handlers in global order, checkpoint with the effects,
-- event-type filters, a poison event stops only its projection, resume.
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS cqrs_projections;
CREATE DATABASE cqrs_projections;
\c cqrs_projections
CREATE EXTENSION cqrs_conf;
RESET client_min_messages;
-- this test is about the runner alone: without the extension's read models
DELETE FROM cqrs.projections WHERE internal;

CREATE TABLE totals (stream_id uuid PRIMARY KEY, total numeric NOT NULL, seen bigint NOT NULL);
CREATE TABLE audit (global_position bigint PRIMARY KEY, event_type text);

-- Handlers run under the drain's fixed search_path: they set their own.
CREATE FUNCTION add_to_total(e cqrs.event) RETURNS void LANGUAGE plpgsql
SET search_path = public AS $$
BEGIN
  IF (e.data->>'amount')::numeric < 0 THEN
    RAISE EXCEPTION 'negative amount % at position %', e.data->>'amount', e.global_position
      USING ERRCODE = '22003';
  END IF;
  INSERT INTO totals VALUES (e.stream_id, (e.data->>'amount')::numeric, e.global_position)
  ON CONFLICT (stream_id) DO UPDATE
     SET total = totals.total + excluded.total, seen = excluded.seen;
END $$;

CREATE FUNCTION record_all(e cqrs.event) RETURNS void LANGUAGE sql AS $$
  INSERT INTO public.audit VALUES (e.global_position, e.event_type)
$$;

SELECT cqrs.register_projection('totals', 'add_to_total(cqrs.event)', ARRAY['Added']);
SELECT cqrs.register_projection('audit', 'record_all(cqrs.event)');
-- a handler of the wrong shape is refused
SELECT cqrs.register_projection('bad', 'abs(integer)');

SELECT cqrs.append('b0000000-0000-4000-8000-000000000001', 'Account', -1,
  '[{"type": "Opened", "data": {}}, {"type": "Added", "data": {"amount": 10}},
    {"type": "Added", "data": {"amount": 5}}]');
SELECT cqrs.append('b0000000-0000-4000-8000-000000000002', 'Account', -1,
  '[{"type": "Added", "data": {"amount": 7}}]');
SELECT cqrs.drain() AS processed;          -- 4 sequenced + 3 totals + 4 audit
SELECT * FROM totals ORDER BY stream_id;
SELECT * FROM audit ORDER BY global_position;
SELECT name, position, lag_events, state, applied_events FROM cqrs.projection_status ORDER BY name;

-- draining again applies nothing twice
SELECT cqrs.drain() AS processed;

-- a rolled-back drain leaves the checkpoint and the read model as they were
SELECT cqrs.append('b0000000-0000-4000-8000-000000000002', 'Account', 0,
  '[{"type": "Added", "data": {"amount": 1}}]');
BEGIN;
SELECT cqrs.drain() AS processed;
SELECT total FROM totals WHERE stream_id = 'b0000000-0000-4000-8000-000000000002';
ROLLBACK;
SELECT total FROM totals WHERE stream_id = 'b0000000-0000-4000-8000-000000000002';
SELECT name, position FROM cqrs.projection_status ORDER BY name;
SELECT cqrs.drain() AS processed;
SELECT total FROM totals WHERE stream_id = 'b0000000-0000-4000-8000-000000000002';

-- a poison event: the events before it are applied, the projection stops
-- there with the error, the other projection carries on
SELECT cqrs.append('b0000000-0000-4000-8000-000000000001', 'Account', 2,
  '[{"type": "Added", "data": {"amount": 1}}, {"type": "Added", "data": {"amount": -3}},
    {"type": "Added", "data": {"amount": 100}}]');
SELECT cqrs.drain() AS processed;
SELECT * FROM totals ORDER BY stream_id;
SELECT name, position, lag_events, state, last_error, last_error_sqlstate, error_position
  FROM cqrs.projection_status ORDER BY name;
SELECT count(*) AS audited FROM audit;
-- it stays stopped: draining does not skip the poison event
SELECT cqrs.drain() AS processed;
SELECT cqrs.wait_for_projections('50 ms');

-- fix the handler, resume: it continues at the poison event
CREATE OR REPLACE FUNCTION add_to_total(e cqrs.event) RETURNS void LANGUAGE plpgsql
SET search_path = public AS $$
BEGIN
  INSERT INTO totals VALUES (e.stream_id, abs((e.data->>'amount')::numeric), e.global_position)
  ON CONFLICT (stream_id) DO UPDATE
     SET total = totals.total + excluded.total, seen = excluded.seen;
END $$;
SELECT cqrs.resume_projection('totals');
SELECT cqrs.wait_for_projections('5 s');
SELECT * FROM totals ORDER BY stream_id;
SELECT name, position, lag_events, state, last_error FROM cqrs.projection_status ORDER BY name;

-- wait_for_projections does the work itself when no worker runs
SELECT cqrs.worker_pid() IS NULL AS no_worker;
SELECT cqrs.append('b0000000-0000-4000-8000-000000000003', 'Account', -1,
  '[{"type": "Added", "data": {"amount": 42}}]');
SELECT cqrs.wait_for_projections();
SELECT total FROM totals WHERE stream_id = 'b0000000-0000-4000-8000-000000000003';

-- a stopped projection is not waited for
SELECT cqrs.stop_projection('audit');
SELECT cqrs.append('b0000000-0000-4000-8000-000000000003', 'Account', 0,
  '[{"type": "Added", "data": {"amount": 1}}]');
SELECT cqrs.wait_for_projections();
SELECT name, state, lag_events FROM cqrs.projection_status ORDER BY name;

\c :orig_db
DROP DATABASE cqrs_projections;
