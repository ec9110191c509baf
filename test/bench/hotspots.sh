#!/bin/bash
# Where the time of commands.sh and projection_lag.sh goes: three
# measurements on a throwaway cluster (as lib.sh's), about 3 minutes.
#
#   test/bench/hotspots.sh [--no-perf] [--keep]
#
# 1. MakeSeatReservation on one conference against the size of its pending
#    set: 8 blocks of 5,000 reservations (up to 40,000 pending), a commit
#    every 500 (asynchronous: no flush wait), ms per command for each block.
# 2. The worker's claim of due commands (command_log.c: "status = 'pending'
#    AND coalesce(due_at, '-infinity') <= $1 ORDER BY coalesce(due_at,
#    '-infinity'), seq LIMIT $2 FOR UPDATE SKIP LOCKED") with 0, 10,000 and 100,000 pending
#    ExpireRegistrationProcess timers due in 6 hours (inserted directly
#    into cqrs.commands), EXPLAIN ANALYZE of its generic plan -- the plan a
#    kept SPI plan ends up with -- after VACUUM ANALYZE.
# 3. Profiles (pg_stat_statements with track = all, so the statements the
#    worker and cqrs.send run through SPI are listed; and, unless
#    --no-perf, perf record of the worker and of a client backend):
#      worker  RegisterToConference at 300 orders/s over 20 conferences
#              (4 clients, pgbench -R), 12 s, perf of the worker for 6 s;
#      reserve MakeSeatReservation on one conference, 1 client, 10 s, perf
#              of the backend for 5 s (pending set about 1,000-2,500);
#      register RegisterToConference, 1 client, 8 s, one conference, perf
#              of the backend for 4 s.
#    Prints the top statements by total time and perf's top symbols
#    (inclusive, for the functions named below); the perf data stay in the
#    cluster directory with --keep.
#
# Uses the installed extension (scripts/build.sh first); run as root for
# perf.  Prints to stdout (not a results file).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
keep=0
pin=0
use_perf=1
while [ $# -gt 0 ]; do
    case $1 in
    --no-perf) use_perf=0 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
command -v perf >/dev/null || use_perf=0

. "$here/lib.sh"
extra_conf="cqrs_conf.pm_expiration_buffer = '6h'
shared_preload_libraries = 'cqrs_conf,pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.max = 2000"
start_cluster hotspots
psql -v nconf=60 -f "$here/commands_setup.sql" >/dev/null
psql -c "CREATE EXTENSION pg_stat_statements"
wait_worker
wait_settled 60
wpid=$(psql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker' LIMIT 1")
cp "$here"/cmd_*.sql "$here/lag_register.sql" "$work/" && chmod 644 "$work"/*.sql

echo "## 1. MakeSeatReservation against the pending set (one conference, a commit every 500)"
echo
PGOPTIONS="-c synchronous_commit=off" psql -c "DO \$\$
DECLARE t timestamptz; i int; k int := 0;
BEGIN
  FOR blk IN 1..8 LOOP
    t := clock_timestamp();
    FOR i IN 1..5000 LOOP
      k := k + 1;
      IF i % 500 = 0 THEN COMMIT; END IF;
      PERFORM cqrs.send('MakeSeatReservation', jsonb_build_object('conferenceId', bench.conf(60),
              'reservationId', md5('h' || k)::uuid,
              'seats', jsonb_build_array(jsonb_build_object('seatType', bench.seat(60), 'quantity', 2))));
    END LOOP;
    RAISE NOTICE 'pending % to %: % ms per MakeSeatReservation', k - 5000, k,
        round(extract(epoch FROM clock_timestamp() - t) * 1000 / 5000, 3);
  END LOOP;
END \$\$" 2>&1 | sed 's/.*NOTICE:  /- /'
wait_settled 120

echo
echo "## 2. The worker's claim of due commands against pending timers (generic plan)"
echo
psql -c "SELECT pg_stat_statements_reset()" >/dev/null
for n in 0 10000 100000; do
    psql -c "DELETE FROM cqrs.commands WHERE status = 'pending' AND command_type = 'ExpireRegistrationProcess'"
    [ "$n" -gt 0 ] && psql -c "INSERT INTO cqrs.commands (command_id, command_type, payload, status, origin, due_at)
        SELECT gen_random_uuid(), 'ExpireRegistrationProcess', jsonb_build_object('processId', gen_random_uuid()),
               'pending', 'enqueue', now() + interval '6 hours' FROM generate_series(1, $n)"
    psql -c "VACUUM ANALYZE cqrs.commands"
    echo "- $n pending timers: $(psql -c "PREPARE q(timestamptz, int) AS SELECT command_id, command_type, payload FROM cqrs.commands
                 WHERE status = 'pending' AND coalesce(due_at, '-infinity'::timestamptz) <= \$1
                 ORDER BY coalesce(due_at, '-infinity'::timestamptz), seq LIMIT \$2 FOR UPDATE SKIP LOCKED" \
            -c "SET plan_cache_mode = force_generic_plan" \
            -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE q(now(), 100)" |
            grep -E 'Scan using|Scan on|Rows Removed|Execution Time' | sed 's/^ *//; s/->  //' | paste -sd ';' | sed 's/;/; /g')"
done
psql -c "DELETE FROM cqrs.commands WHERE status = 'pending' AND command_type = 'ExpireRegistrationProcess'" -c "VACUUM ANALYZE cqrs.commands"

pgss() {
    echo
    echo "| calls | mean ms | total ms | statement |"
    echo "|---|---|---|---|"
    psql -F ' | ' -c "SELECT calls, round(mean_exec_time::numeric, 3), round(total_exec_time::numeric, 1),
                             left(regexp_replace(query, '\s+', ' ', 'g'), 150)
                        FROM pg_stat_statements WHERE calls > 20 ORDER BY total_exec_time DESC LIMIT 20" | sed 's/^/| /; s/$/ |/'
}
perf_top() {   # DATA
    [ "$use_perf" -eq 1 ] || return 0
    echo
    echo "perf, inclusive share of the process's samples:"
    echo
    perf report -i "$1" --children --sort symbol --stdio -g none 2>/dev/null |
        grep -E '\] (cqrs_send|cqrs_sequence_batch|run_projections|plpgsql_call_handler|cqrs_handle_pending_commands|handle_one_pending|cqrs_command_on_stream|cqrs_fold_stream|seats_from_jsonb|set_pending|cqrs_command_store_decision|cqrs_append_events|insert_command|GetCachedPlan|pg_plan_query|CommitTransactionCommand|XLogFlush|index_getnext_slot) ' |
        awk '{printf "- %s %s\n", $4, $1}'
}
perf_rec() {   # PID DATA SECONDS
    if [ "$use_perf" -eq 1 ]; then
        perf record -F 499 --call-graph dwarf,16384 -p "$1" -o "$2" -- sleep "$3" >/dev/null 2>&1 || true
    else
        sleep "$3"
    fi
}

echo
echo "## 3a. Worker at 300 orders/s (RegisterToConference over 20 conferences, 4 clients)"
psql -c "SELECT pg_stat_statements_reset()" >/dev/null
as_pg "$bin/pgbench" -h "$work" -p "$port" -U postgres -n -M prepared -T 12 -c 4 -j 2 -R 300 \
    -D off=0 -D nconf=20 -f "$work/lag_register.sql" "$db" >"$work/p1.out" 2>&1 &
pb=$!
sleep 3
w0=$(cpu_s "$wpid")
perf_rec "$wpid" "$work/worker.perf" 6
w1=$(cpu_s "$wpid")
wait "$pb"
echo
echo "$(grep '^tps' "$work/p1.out"); worker CPU $(awk -v a="$w0" -v b="$w1" 'BEGIN {printf "%.0f", 100 * (b - a) / 6}')% of one CPU"
wait_settled 120
pgss
perf_top "$work/worker.perf"
psql -c "DELETE FROM cqrs.commands WHERE status = 'pending' AND command_type = 'ExpireRegistrationProcess'" -c "VACUUM cqrs.commands"

echo
echo "## 3b. MakeSeatReservation, one conference, 1 client"
psql -c "SELECT pg_stat_statements_reset()" >/dev/null
as_pg "$bin/pgbench" -h "$work" -p "$port" -U postgres -n -M prepared -T 10 -c 1 -j 1 -D run=1 -D n=0 \
    -D cid="$(psql -c "SELECT bench.conf(50)")" -D sid="$(psql -c "SELECT bench.seat(50)")" \
    -f "$work/cmd_reserve.sql" "$db" >"$work/p2.out" 2>&1 &
pb=$!
sleep 4
be=$(psql -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
perf_rec "$be" "$work/reserve.perf" 5
wait "$pb"
echo
echo "$(grep '^tps' "$work/p2.out"); pending at the end: $(psql -c "SELECT bench.pending(50)")"
wait_settled 120
pgss
perf_top "$work/reserve.perf"

echo
echo "## 3c. RegisterToConference, one conference, 1 client"
psql -c "SELECT pg_stat_statements_reset()" >/dev/null
as_pg "$bin/pgbench" -h "$work" -p "$port" -U postgres -n -M prepared -T 8 -c 1 -j 1 \
    -D cid="$(psql -c "SELECT bench.conf(51)")" -D sid="$(psql -c "SELECT bench.seat(51)")" \
    -f "$work/cmd_register.sql" "$db" >"$work/p3.out" 2>&1 &
pb=$!
sleep 2
be=$(psql -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
perf_rec "$be" "$work/register.perf" 4
wait "$pb"
echo
grep '^tps' "$work/p3.out"
# the statements of the backend only: read before the worker's backlog is handled
pgss
perf_top "$work/register.perf"
