-- projection_lag.sh, phase (b): the probe.  bench.probe(seconds, gap_ms,
-- order_conf, update_conf) alternates two actions, each in a transaction
-- of its own:
--   draft_orders     cqrs.send('RegisterToConference') for a new order of
--                    conference order_conf; visible when the order's row
--                    is in conference.draft_orders;
--   conference_view  UPDATE conference.conferences SET tagline = <new> for
--                    conference update_conf (publishes ConferenceUpdated);
--                    visible when conference.conference_view has the new
--                    tagline.
-- After the action's COMMIT has returned it notes clock_timestamp() and
-- polls the read model (a fresh snapshot per query, READ COMMITTED, a
-- procedure with transaction control), sleeping 1 ms between polls (pg_sleep
-- rounds up to whole milliseconds), until the row is there: latency =
-- clock_timestamp() at the first successful poll - clock_timestamp() after
-- the commit, so it is what a client sees, with a resolution of about 1 ms
-- (it may be late by up to one poll interval, never early).  Also kept:
-- the action's xid and the xmin of the read-model row version the poll
-- found, so that with track_commit_timestamp = on the commit-to-commit
-- latency (projection's commit - action's commit) can be computed as a
-- cross-check.  Then it waits gap_ms and starts the next action.
CREATE TABLE bench.probes (
    kind text NOT NULL,
    n integer NOT NULL,
    t_commit timestamptz NOT NULL,
    t_visible timestamptz,
    polls integer NOT NULL,
    action_xid xid8 NOT NULL,
    row_xmin xid
);

CREATE PROCEDURE bench.probe(seconds float8, gap_ms integer, order_conf integer, update_conf integer)
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
    i integer := 0;
    k text;
    oid uuid;
    tag text;
    t0 timestamptz;
    t1 timestamptz;
    np integer;
    ok boolean;
    x xid8;
    rx xid;
BEGIN
    WHILE clock_timestamp() < deadline LOOP
        i := i + 1;
        IF i % 2 = 1 THEN
            k := 'draft_orders';
            oid := gen_random_uuid();
            PERFORM cqrs.send('RegisterToConference', jsonb_build_object(
                'orderId', oid, 'conferenceId', bench.conf(order_conf),
                'seats', jsonb_build_array(jsonb_build_object('seatType', bench.seat(order_conf), 'quantity', 1))));
        ELSE
            k := 'conference_view';
            tag := 'probe ' || i;
            UPDATE conference.conferences SET tagline = tag WHERE id = bench.conf(update_conf);
        END IF;
        x := pg_current_xact_id();
        COMMIT;
        t0 := clock_timestamp();
        np := 0;
        LOOP
            np := np + 1;
            IF k = 'draft_orders' THEN
                SELECT d.xmin INTO rx FROM conference.draft_orders d WHERE d.order_id = oid;
            ELSE
                SELECT v.xmin INTO rx FROM conference.conference_view v
                 WHERE v.id = bench.conf(update_conf) AND v.tagline = tag;
            END IF;
            ok := FOUND;
            t1 := clock_timestamp();
            EXIT WHEN ok OR t1 - t0 > interval '30 s';
            PERFORM pg_sleep(0.0005);
        END LOOP;
        INSERT INTO bench.probes VALUES (k, i, t0, CASE WHEN ok THEN t1 END, np, x, rx);
        COMMIT;
        PERFORM pg_sleep(gap_ms / 1000.0);
    END LOOP;
END
$$;
