-- burst(n, type): one append of n events of one type to a new stream
-- (stream type 'Burst', empty data); returns the stream's version.
CREATE FUNCTION burst(n int, type text) RETURNS bigint LANGUAGE sql AS $$
  SELECT cqrs.append(gen_random_uuid(), 'Burst', -1,
                     jsonb_agg(jsonb_build_object('type', type, 'data', '{}'::jsonb)))
    FROM generate_series(1, n)
$$;
