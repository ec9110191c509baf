-- The projection horizon: idle projections ride on one position instead of
-- a checkpoint row write per batch; any other update of their rows keeps
-- the checkpoint they reached; only the runner puts a row at the horizon.
\set test_db cqrs_horizon
\i sql/include/fresh_database.sql
DELETE FROM cqrs.projections WHERE internal;

CREATE TABLE calls (projection text, global_position bigint, PRIMARY KEY (projection, global_position));
CREATE FUNCTION count_call(e cqrs.event) RETURNS void LANGUAGE sql AS $$
  INSERT INTO public.calls VALUES (e.event_type, e.global_position)
$$;
CREATE FUNCTION idle_call(e cqrs.event) RETURNS void LANGUAGE sql AS $$
  INSERT INTO public.calls VALUES ('idle', e.global_position)
$$;
SELECT cqrs.register_projection('counted', 'count_call(cqrs.event)', ARRAY['Counted']);
SELECT cqrs.register_projection('idle', 'idle_call(cqrs.event)', ARRAY['Rare']);

CREATE FUNCTION rows() RETURNS TABLE (name text, row_position bigint, at_horizon boolean,
                                      checkpoint bigint, horizon bigint, state text)
LANGUAGE sql AS $$
  SELECT p.name, p.position, p.at_horizon, s.position,
         (SELECT h.position FROM cqrs.projection_horizon h), p.state
    FROM cqrs.projections p JOIN cqrs.projection_status s USING (name)
   ORDER BY p.name
$$;
\i sql/include/burst.sql

-- the first pass writes both rows and puts them at the horizon
SELECT burst(3, 'Counted');
SELECT cqrs.drain() > 0 AS worked;
SELECT * FROM rows();

-- events neither handles: the rows stay, the horizon and checkpoints move
SELECT burst(5, 'Other');
SELECT cqrs.drain() > 0 AS worked;
SELECT * FROM rows();
SELECT cqrs.last_position();

-- an event of one projection's types: its row moves, the other's does not
SELECT burst(1, 'Counted');
SELECT burst(2, 'Other');
SELECT cqrs.drain() > 0 AS worked;
SELECT * FROM rows();
SELECT count(*) AS counted_calls FROM calls WHERE projection = 'Counted';

-- a stop keeps the checkpoint it reached, off the horizon
SELECT cqrs.stop_projection('idle');
SELECT * FROM rows();
SELECT burst(2, 'Rare');
SELECT cqrs.drain() > 0 AS worked;
SELECT * FROM rows();
-- resumed, it applies the events it missed, once
SELECT cqrs.resume_projection('idle');
SELECT cqrs.drain() > 0 AS worked;
SELECT * FROM rows();
SELECT global_position FROM calls WHERE projection = 'idle' ORDER BY 1;

-- only the runner puts a row at the horizon
SELECT burst(1, 'Other');
SELECT cqrs.drain() > 0 AS worked;
UPDATE cqrs.projections SET at_horizon = true, position = 0 WHERE name = 'counted';
SELECT * FROM rows();
SELECT cqrs.drain() > 0 AS worked;
-- the DBA's rewind replays (the handler's key refuses the repeats: poison)
SELECT name, state, error_position, last_error_sqlstate FROM cqrs.projection_status ORDER BY name;
-- a failed projection keeps its checkpoint off the horizon
SELECT * FROM rows();
DELETE FROM cqrs.projections WHERE name = 'counted';
INSERT INTO cqrs.projections (name, handler, event_types, position, at_horizon)
VALUES ('counted', 'count_call(cqrs.event)', ARRAY['Counted'], 12, true);
SELECT * FROM rows();
SELECT cqrs.drain() > 0 AS worked;
SELECT * FROM rows();

\i sql/include/drop_database.sql
