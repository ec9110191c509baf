#!/bin/bash
# Latency of the registration process manager's full round trip through
# the background worker: from the commit of a RegisterToConference to the
# commit of the order's OrderReservationCompleted (OrderPlaced -> PM ->
# MakeSeatReservation -> SeatsReserved -> PM -> MarkSeatsAsReserved).
#
#   test/bench/pm_latency.sh [SECONDS] [CLIENTS] [CONFERENCES]
#
# A private cluster (track_commit_timestamp = on, synchronous_commit = on,
# the worker on, naptime 1 s: the commit wakeup drives it).  Phase 1 finds
# the maximum: pgbench registers orders unthrottled for SECONDS; maximum =
# orders / time until the worker has answered all of them.  Phase 2 runs at
# half that rate (pgbench -R) on fresh conferences for SECONDS and reports
# p50 / p90 / p99 / max of the commit-to-commit latency, from the commit
# timestamps of the two events' appending transactions.  Orders are spread
# over CONFERENCES conferences (one SeatsAvailability aggregate each).
set -euo pipefail
secs=${1:-15} clients=${2:-4} nconf=${3:-20}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
dir=$(mktemp -d /tmp/cqrs-pm-latency.XXXXXX)
port=${PORT:-5591}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
cp "$here/pm_latency_register.sql" "$dir/" && chmod 644 "$dir/pm_latency_register.sql"
cleanup() { as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

as_pg "$bin/initdb" -D "$dir/data" -A trust >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = 'postgres'
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
track_commit_timestamp = on
max_connections = 100
shared_buffers = 256MB
CONF
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
psql() { as_pg "$bin/psql" -h "$dir" -p "$port" -d postgres -XAtq "$@"; }

psql -c "CREATE EXTENSION cqrs_conf"
# 2 x nconf conferences (phase 1 and phase 2), one seat type each
psql <<SQL
INSERT INTO conference.conferences (id, name, description, location, start_date, end_date,
       owner_name, owner_email, slug)
SELECT ('c0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'Bench ' || i, 'd', 'l',
       '2030-01-01', '2030-01-02', 'o', 'o@contoso.com', 'bench_' || i
  FROM generate_series(1, 2 * $nconf) i;
INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
SELECT ('a0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
       ('c0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'General', 'g', 100000, 10
  FROM generate_series(1, 2 * $nconf) i;
SELECT count(conference.publish(id)) FROM conference.conferences \g /dev/null
SQL

settled() {
    [ "$(psql -c "SELECT NOT EXISTS (SELECT 1 FROM cqrs.commands WHERE status = 'pending' AND due_at IS NULL)
                  AND (SELECT unsequenced_events = 0 FROM cqrs.sequencer_status)
                  AND NOT EXISTS (SELECT 1 FROM cqrs.projection_status
                                   WHERE name = 'registration_process_manager' AND lag_events > 0)")" = t ]
}
until settled; do sleep 0.1; done

bench() {   # bench OFFSET [pgbench options...]
    local off=$1; shift
    as_pg "$bin/pgbench" -n -h "$dir" -p "$port" -c "$clients" -j "$clients" -T "$secs" \
        -D off="$off" -D nconf="$nconf" -f "$dir/pm_latency_register.sql" "$@" postgres
}

# latency of the orders of conferences OFF+1 .. OFF+nconf, in ms
report() {
    psql -F ' ' <<SQL
WITH o AS (
  SELECT e.stream_id,
         min(pg_xact_commit_timestamp((e.append_xid::text)::xid))
             FILTER (WHERE e.event_type = 'OrderPlaced') AS placed,
         min(pg_xact_commit_timestamp((e.append_xid::text)::xid))
             FILTER (WHERE e.event_type = 'OrderReservationCompleted') AS reserved
    FROM cqrs.events e
   WHERE e.stream_type = 'Order'
     AND e.stream_id IN (SELECT e2.stream_id FROM cqrs.events e2
                          WHERE e2.event_type = 'OrderPlaced'
                            AND right(e2.data->>'conferenceId', 12)::int BETWEEN $1 + 1 AND $1 + $nconf)
   GROUP BY 1),
l AS (SELECT extract(epoch FROM reserved - placed) * 1000 AS ms FROM o WHERE reserved IS NOT NULL)
SELECT format('orders %s  p50 %s ms  p90 %s ms  p99 %s ms  max %s ms',
       count(*),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 1),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
       round(max(ms)::numeric, 1))
  FROM l;
SQL
}

echo "== settings: $secs s per phase, $clients clients, $nconf conferences per phase, synchronous_commit on"
echo "== phase 1: maximum (unthrottled)"
t0=$(date +%s.%N)
bench 0 | grep -E '^(tps|number of transactions actually processed)'
until settled; do sleep 0.05; done
t1=$(date +%s.%N)
n1=$(psql -c "SELECT count(*) FROM cqrs.events WHERE event_type = 'OrderReservationCompleted'")
max=$(echo "$n1 / ($t1 - $t0)" | bc)
echo "orders answered: $n1 in $(echo "$t1 - $t0" | bc) s  => maximum round trips/s: $max"
echo "latency while saturated: $(report 0)"
rate=$(( max / 2 ))
[ "$rate" -lt 1 ] && rate=1
echo "== phase 2: steady load at half the maximum: $rate orders/s"
bench "$nconf" -R "$rate" | grep -E '^(tps|number of transactions actually processed)'
until settled; do sleep 0.05; done
echo "latency at half load: $(report "$nconf")"
