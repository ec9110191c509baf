-- Batches that this session's sequencer numbered in place, none of whose
-- types a running projection wants, are not read: the checkpoints move
-- without the events (numbered_types.c).  A batch with one wanted event
-- among them is read, every wanted event is applied once, and positions
-- numbered by the UPDATE statement (this transaction's own appends) are
-- read as before.
\set test_db cqrs_unread
\i sql/include/fresh_database.sql
DELETE FROM cqrs.projections WHERE internal;

CREATE TABLE seen (projection text, global_position bigint, event_type text,
                   PRIMARY KEY (projection, global_position));
CREATE FUNCTION see_wanted(e cqrs.event) RETURNS void LANGUAGE sql AS $$
  INSERT INTO public.seen VALUES ('wanted', e.global_position, e.event_type)
$$;
CREATE FUNCTION see_all(e cqrs.event) RETURNS void LANGUAGE sql AS $$
  INSERT INTO public.seen VALUES ('all', e.global_position, e.event_type)
$$;
\i sql/include/burst.sql
CREATE FUNCTION checkpoints() RETURNS TABLE (name text, checkpoint bigint, last bigint)
LANGUAGE sql AS $$
  SELECT s.name, s.position, cqrs.last_position()
    FROM cqrs.projection_status s ORDER BY s.name
$$;
SELECT cqrs.register_projection('wanted', 'see_wanted(cqrs.event)', ARRAY['Wanted']);

-- committed appends, numbered in place: one wanted event among 100
SELECT burst(50, 'Unwanted');
SELECT burst(1, 'Wanted');
SELECT burst(50, 'Unwanted');
SELECT cqrs.drain() > 0 AS worked;
SELECT * FROM seen ORDER BY projection, global_position;
SELECT * FROM checkpoints();

-- nothing wanted: the checkpoint moves to the end, nothing is applied
SELECT burst(30, 'Unwanted');
SELECT burst(20, 'AlsoUnwanted');
SELECT cqrs.drain() > 0 AS worked;
SELECT count(*) AS applied FROM seen;
SELECT * FROM checkpoints();

-- appends numbered in the appending transaction itself (the UPDATE
-- statement), then in place again
BEGIN;
SELECT burst(3, 'Wanted');
SELECT burst(3, 'Unwanted');
SELECT cqrs.drain() > 0 AS worked;
COMMIT;
SELECT burst(10, 'Unwanted');
SELECT burst(2, 'Wanted');
SELECT cqrs.drain() > 0 AS worked;
SELECT global_position, event_type FROM seen WHERE projection = 'wanted'
 ORDER BY global_position;
SELECT * FROM checkpoints();

-- a projection of every type, registered now from position 0, gets every
-- event once, the recent batches included
SELECT cqrs.register_projection('all', 'see_all(cqrs.event)');
SELECT cqrs.drain() > 0 AS worked;
SELECT count(*) AS events, count(DISTINCT global_position) AS positions,
       min(global_position), max(global_position)
  FROM seen WHERE projection = 'all';
SELECT count(*) FILTER (WHERE a.event_type IS DISTINCT FROM e.event_type) AS wrong_types
  FROM seen a JOIN cqrs.events e USING (global_position) WHERE a.projection = 'all';
SELECT * FROM checkpoints();

\i sql/include/drop_database.sql
