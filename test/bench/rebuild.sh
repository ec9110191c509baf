#!/bin/bash
# Rebuild throughput: cqrs.rebuild_projection per read-model projection, in
# log events per second, with the set-based bulk loader (the default) and
# with the handler alone (bulk => false), against the physical limit of
# reading every event of the log once (a plain scan that parses each
# event's jsonb), all on one throwaway cluster.
#
#   test/bench/rebuild.sh [--orders N] [--rounds N] [--handler-rounds N] [--only LIST] [--keep]
#
#   --orders          orders in the log, 4 events each (default 25000: 100,000 events)
#   --rounds          timed bulk rebuilds per projection (default 5; the median is reported)
#   --handler-rounds  timed handler-only rebuilds per projection (default 1; 0 skips them)
#   --only            comma-separated projections (default: every projection with tables)
#   --keep            leave the cluster directory behind (it is stopped)
#
# The log: per order OrderPlaced, OrderTotalsCalculated, OrderReservationCompleted,
# then OrderConfirmed, OrderExpired or OrderRegistrantAssigned (by turns), plus
# a conference, its seat types and a SeatsReserved per order on the
# conference's SeatsAvailability stream.  The background worker is off and
# the process manager stopped (rebuilds are measured alone); events are
# sequenced with cqrs.drain().  A warm-up rebuild of each projection (not
# timed) fills the live tables, so every timed rebuild also swaps out a
# full read model.  After the timed rounds, cqrs.verify_projection must
# find no difference.
#
# Uses the installed extension: run scripts/build.sh (as root) first.  Runs
# the server as the postgres user.  Prints a table and writes it to
# test/bench/results/<timestamp>.md.  See docs/read-models.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
orders=25000
rounds=5
handler_rounds=1
only=
keep=0

while [ $# -gt 0 ]; do
    case $1 in
    --orders) orders=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --handler-rounds) handler_rounds=$2; shift ;;
    --only) only=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

. "$here/lib.sh"

# ---------------------------------------------------------------- cluster
# No background worker: rebuilds are measured alone.
worker_database=''
pin=0
start_cluster bench-rebuild

# ---------------------------------------------------------------- the log
echo "building the log: $orders orders ..." >&2
psql <<'SQL'
CREATE EXTENSION cqrs_conf;
-- rebuilds are measured alone: nothing reacts to the events
UPDATE cqrs.projections SET state = 'stopped';
CREATE SCHEMA bench;
CREATE FUNCTION bench.ev(t text, d jsonb) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT jsonb_build_object('type', t, 'data', d) $$;
CREATE FUNCTION bench.seat_type(k integer) RETURNS uuid LANGUAGE sql
  AS $$ SELECT ('a0000000-0000-4000-8000-00000000000' || k)::uuid $$;
CREATE FUNCTION bench.order_events(i integer) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_array(
    bench.ev('OrderPlaced', jsonb_build_object('conferenceId', 'c0000000-0000-4000-8000-000000000001',
      'seats', jsonb_build_array(jsonb_build_object('seatType', st, 'quantity', q)),
      'reservationAutoExpiration', '2030-04-01T10:15:00Z', 'accessCode', 'C' || i)),
    bench.ev('OrderTotalsCalculated', jsonb_build_object('total', q * 10 * k, 'isFreeOfCharge', false,
      'lines', jsonb_build_array(jsonb_build_object('seatType', st, 'unitPrice', 10 * k,
         'quantity', q, 'lineTotal', q * 10 * k)))),
    bench.ev('OrderReservationCompleted', jsonb_build_object(
      'reservationExpiration', '2030-04-01T10:20:00Z',
      'seats', jsonb_build_array(jsonb_build_object('seatType', st, 'quantity', q)))),
    CASE i % 3
      WHEN 0 THEN bench.ev('OrderConfirmed', '{}')
      WHEN 1 THEN bench.ev('OrderExpired', '{}')
      ELSE bench.ev('OrderRegistrantAssigned', jsonb_build_object('firstName', 'F' || i,
             'lastName', 'L' || i, 'email', 'r' || i || '@example.com')) END)
    FROM (SELECT i % 3 + 1 AS k, i % 4 + 1 AS q, bench.seat_type(i % 3 + 1) AS st) x
$$;
SELECT cqrs.append('c0000000-0000-4000-8000-000000000001', 'Conference', -1, jsonb_build_array(
  bench.ev('ConferenceCreated', '{"conferenceId": "c0000000-0000-4000-8000-000000000001",
     "name": "Bench", "description": "d", "location": "l", "slug": "bench", "tagline": null,
     "twitterSearch": null, "startDate": "2030-05-01", "endDate": "2030-05-02",
     "owner": {"name": "O", "email": "o@example.com"}}'),
  bench.ev('ConferencePublished', '{}')));
SELECT count(cqrs.append(bench.seat_type(k), 'SeatType', -1,
  jsonb_build_array(bench.ev('SeatCreated', jsonb_build_object(
     'seatTypeId', bench.seat_type(k), 'conferenceId', 'c0000000-0000-4000-8000-000000000001',
     'name', 'Seat ' || k, 'description', 'd', 'price', 10 * k, 'quantity', 1000000)))))
  FROM generate_series(1, 3) k;
SELECT cqrs.append(cqrs.derived_stream_id('SeatsAvailability', 'c0000000-0000-4000-8000-000000000001'),
  'SeatsAvailability', -1, jsonb_build_array(bench.ev('AvailableSeatsChanged',
     jsonb_build_object('seats', jsonb_agg(jsonb_build_object(
        'seatType', bench.seat_type(k), 'quantity', 1000000))))))
  FROM generate_series(1, 3) k;
SQL
batch=1000
for ((from = 1; from <= orders; from += batch)); do
    to=$((from + batch - 1)); [ "$to" -gt "$orders" ] && to=$orders
    psql >/dev/null <<SQL
SELECT count(cqrs.append(md5('order' || i)::uuid, 'Order', -1, bench.order_events(i)))
  FROM generate_series($from, $to) i;
SELECT cqrs.append(cqrs.derived_stream_id('SeatsAvailability', 'c0000000-0000-4000-8000-000000000001'),
  'SeatsAvailability', NULL, jsonb_agg(bench.ev('SeatsReserved', jsonb_build_object(
     'reservationId', md5('order' || i)::uuid,
     'reservationDetails', jsonb_build_array(jsonb_build_object(
        'seatType', bench.seat_type(i % 3 + 1), 'quantity', i % 4 + 1)),
     'availableSeatsChanged', jsonb_build_array(jsonb_build_object(
        'seatType', bench.seat_type(i % 3 + 1), 'quantity', -(i % 4 + 1)))))
     ORDER BY i))
  FROM generate_series($from, $to) i;
SELECT cqrs.drain() >= 0;
SQL
done
psql -c "VACUUM ANALYZE cqrs.events" >/dev/null
events=$(psql -c "SELECT last_position FROM cqrs.sequencer_state")
echo "log: $events events" >&2
[ -n "$only" ] || only=$(psql -c "SELECT string_agg(name, ',' ORDER BY name) FROM cqrs.projections WHERE tables IS NOT NULL AND rebuild_of IS NULL")
psql -c "UPDATE cqrs.projections SET state = 'running' WHERE tables IS NOT NULL" >/dev/null

# Seconds of one statement, client side, committed (psql's \timing).
timed() {
    local out ms
    out=$(psql -c '\timing on' -c "$1")
    ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | tail -1)
    [ -n "$ms" ] || { echo "no timing in: $out" >&2; exit 1; }
    awk -v m="$ms" 'BEGIN {printf "%.4f", m / 1000}'
}

# The physical limit: every event read once, its jsonb parsed.
scan=()
for r in $(seq 1 "$rounds"); do
    scan+=("$(timed "SELECT count(*) FROM cqrs.events WHERE global_position > 0 AND data->>'none' IS NULL")")
done
scan_s=$(echo "${scan[*]}" | median)
scan_rate=$(awk -v n="$events" -v s="$scan_s" 'BEGIN {printf "%.0f", n / s}')

rows=()
details=()
IFS=, read -r -a projections <<<"$only"
for p in "${projections[@]}"; do
    handled=$(psql -c "SELECT count(*) FROM cqrs.events e, cqrs.projections p
                        WHERE p.name = '$p' AND (p.event_types IS NULL OR e.event_type = ANY (p.event_types))")
    loader=$(psql -c "SELECT coalesce(bulk_loader::text, '') FROM cqrs.projections WHERE name = '$p'")
    echo "$p: warm-up rebuild ..." >&2
    psql -c "SELECT cqrs.rebuild_projection('$p')" >/dev/null
    b=()
    if [ -n "$loader" ]; then
        for r in $(seq 1 "$rounds"); do
            b+=("$(timed "SELECT cqrs.rebuild_projection('$p')")")
        done
    fi
    h=()
    for r in $(seq 1 "$handler_rounds"); do
        h+=("$(timed "SELECT cqrs.rebuild_projection('$p', bulk => false)")")
    done
    diffs=$(psql -c "SELECT count(*) FROM cqrs.verify_projection('$p')")
    [ "$diffs" -eq 0 ] || { echo "verify_projection('$p') found $diffs differences" >&2; exit 1; }
    if [ ${#b[@]} -gt 0 ]; then
        bs=$(echo "${b[*]}" | median)
        brate=$(awk -v n="$events" -v s="$bs" 'BEGIN {printf "%.0f", n / s}')
        bcell="$bs s | $brate | $(awk -v a="$brate" -v b="$scan_rate" 'BEGIN {printf "%.2f", a / b}')"
    else
        bcell="(no loader) | | "
    fi
    if [ ${#h[@]} -gt 0 ]; then
        hs=$(echo "${h[*]}" | median)
        hcell="$hs s | $(awk -v n="$events" -v s="$hs" 'BEGIN {printf "%.0f", n / s}')"
    else
        hcell="| "
    fi
    rows+=("| $p | $handled | $bcell | $hcell | 0 |")
    details+=("- $p: bulk ${b[*]:-none}; handler ${h[*]:-none} (seconds)")
done

cpu=$(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)
ncpu=$(nproc)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report() {
    echo "# cqrs_conf rebuild benchmark, $stamp"
    echo
    echo "$(uname -r), $cpu, $ncpu CPUs, $mem; PostgreSQL $(psql -c 'SHOW server_version');"
    echo "shared_buffers=$shared_buffers, synchronous_commit on, worker off, one session."
    echo "Log: $orders orders x 4 events + a SeatsReserved each + conference and seat types = $events events."
    echo "Each figure is the median of its rounds (bulk $rounds, handler $handler_rounds), timed by psql"
    echo "(\\timing: the rebuild, its swap and the commit), after one warm-up rebuild. Rates are log"
    echo "events per second (every event in the log, whether the projection handles it or not)."
    echo
    echo "| projection | events it handles | bulk: time | bulk: log events/s | bulk / scan limit | handler only: time | handler only: log events/s | verify differences |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Physical limit: reading the $events events once and parsing their jsonb: $scan_s s ($scan_rate events/s)."
    echo
    echo "Rounds:"
    printf '%s\n' "${details[@]}"
}
mkdir -p "$here/results"
report | tee "$here/results/$stamp.md"
if [ "$(id -u)" -eq 0 ]; then chown -R --reference="$here" "$here/results" 2>/dev/null || true; fi
echo "written to test/bench/results/$stamp.md" >&2
