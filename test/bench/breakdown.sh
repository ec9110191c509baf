#!/bin/bash
# Where does a single-event cqrs.append spend its time?  Companion of
# run.sh (see docs/performance.md, "Profile").  One client, pinned like
# run.sh's 1-client runs (pgbench and backend on CPU 0, background
# processes on CPU 1), synchronous_commit off and on, alternating rounds:
#
#   plain            INSERT of the same row (the physical limit)
#   ours             cqrs.append, as in production
#   ours, no snap    cqrs.append with cqrs_conf.snapshot_every = 0 (set with
#                    ALTER SYSTEM: the worker's sequencer takes snapshots)
#   ours, async worker  the worker's own commits with synchronous_commit off
#
# For each: median tps, the ratio to plain, CPU microseconds per transaction
# of the client's backend and of the cqrs_conf worker (from /proc, sampled
# inside the run).  Then one pass with pg_stat_statements.track = all for
# the mean time of each statement cqrs.append runs through SPI.
#
#   test/bench/breakdown.sh [--duration S] [--rounds N] [--keep]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
duration=6
rounds=3
keep=0
while [ $# -gt 0 ]; do
    case $1 in
    --duration) duration=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --keep) keep=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$duration" -ge 4 ] || { echo "--duration must be at least 4" >&2; exit 2; }

# lib.sh: the throwaway cluster (worker on), psql, median.
pin=0
. "$here/lib.sh"
extra_conf="shared_preload_libraries = 'cqrs_conf,pg_stat_statements'
pg_stat_statements.track = none
pg_stat_statements.max = 1000"
start_cluster breakdown
psql -f "$here/setup.sql" >/dev/null
psql -c "CREATE EXTENSION pg_stat_statements"

worker_pid() { psql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker' LIMIT 1"; }
wait_worker

postmaster=$(head -1 "$data/postmaster.pid")
pin() {
    local p
    taskset -p -c 0 "$postmaster" >/dev/null
    for p in $(pgrep -P "$postmaster"); do taskset -p -c 1 "$p" >/dev/null 2>&1 || true; done
}
ticks() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
hz=$(getconf CLK_TCK)

run_no=0
# one SYNC VARIANT: one timed run; sets tps, be_us, wk_us
one() {
    local sync=$1 variant=$2 script=$here/append1_ours.sql opts="-c synchronous_commit=$1"
    local out pb be wk b1 b2 w1 w2 t1 t2
    run_no=$((run_no + 1))
    case $variant in
    plain) script=$here/append1_plain.sql ;;
    esac
    pin
    PGOPTIONS="$opts" as_pg taskset -c 0 "$bin/pgbench" -h "$work" -p "$port" -U postgres -n -M prepared \
        -T "$duration" -c 1 -j 1 -D run="$run_no" -D v=-1 -f "$script" "$db" >"$work/pgbench.out" 2>&1 &
    pb=$!
    sleep 1
    be=$(psql -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
    wk=$(worker_pid)
    b1=$(ticks "$be"); w1=$(ticks "$wk"); t1=$(date +%s.%N)
    sleep $((duration - 2))
    b2=$(ticks "$be"); w2=$(ticks "$wk"); t2=$(date +%s.%N)
    wait "$pb" || { cat "$work/pgbench.out" >&2; exit 1; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$work/pgbench.out")
    be_us=$(awk -v a="$b1" -v b="$b2" -v t1="$t1" -v t2="$t2" -v hz="$hz" -v tps="$tps" 'BEGIN {printf "%.0f", (b - a) / hz / (t2 - t1) / tps * 1e6}')
    wk_us=$(awk -v a="$w1" -v b="$w2" -v t1="$t1" -v t2="$t2" -v hz="$hz" -v tps="$tps" 'BEGIN {printf "%.0f", (b - a) / hz / (t2 - t1) / tps * 1e6}')
    psql -c "SELECT cqrs.drain()" >/dev/null
    psql -c "CHECKPOINT"
}


variants="plain ours nosnap asyncworker"
declare -A T B W
for sync in off on; do
    for r in $(seq 1 "$rounds"); do
        for v in $variants; do
            if [ "$v" = asyncworker ]; then
                psql -c "ALTER ROLE postgres IN DATABASE $db SET synchronous_commit = off" \
                     -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'" >/dev/null
                for _ in $(seq 1 100); do [ -n "$(worker_pid)" ] && break; sleep 0.2; done
                [ -n "$(worker_pid)" ] || { echo "the worker did not come back" >&2; exit 1; }
                one "$sync" ours
                psql -c "ALTER ROLE postgres IN DATABASE $db RESET synchronous_commit" \
                     -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'" >/dev/null
                for _ in $(seq 1 100); do [ -n "$(worker_pid)" ] && break; sleep 0.2; done
            elif [ "$v" = nosnap ]; then
                psql -c "ALTER SYSTEM SET cqrs_conf.snapshot_every = 0" -c "SELECT pg_reload_conf()" >/dev/null
                one "$sync" ours
                psql -c "ALTER SYSTEM RESET cqrs_conf.snapshot_every" -c "SELECT pg_reload_conf()" >/dev/null
            else
                one "$sync" "$v"
            fi
            T[$sync.$v]="${T[$sync.$v]:-} $tps"; B[$sync.$v]="${B[$sync.$v]:-} $be_us"; W[$sync.$v]="${W[$sync.$v]:-} $wk_us"
            printf '  sync %-3s round %d %-12s tps %9.1f  backend %5s us/tx  worker %5s us/tx\n' "$sync" "$r" "$v" "$tps" "$be_us" "$wk_us" >&2
        done
    done
done

# Per-statement times inside cqrs.append (sync off, snapshots on).
psql -c "SELECT pg_stat_statements_reset()" >/dev/null
pin
PGOPTIONS="-c synchronous_commit=off -c pg_stat_statements.track=all" as_pg taskset -c 0 "$bin/pgbench" -h "$work" -p "$port" -U postgres -n -M prepared \
    -T "$duration" -c 1 -j 1 -D run=999 -D v=-1 -f "$here/append1_ours.sql" "$db" >/dev/null 2>&1

echo "# cqrs.append breakdown, 1 client, $rounds rounds of $duration s, medians"
echo
echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')); pgbench and backend pinned to CPU 0, background processes to CPU 1."
echo
echo "| synchronous_commit | variant | tps | ratio to plain | backend CPU us/tx | worker CPU us/tx |"
echo "|---|---|---|---|---|---|"
for sync in off on; do
    p=$(echo "${T[$sync.plain]}" | median)
    for v in $variants; do
        m=$(echo "${T[$sync.$v]}" | median)
        printf '| %s | %s | %.0f | %.2f | %s | %s |\n' "$sync" "$v" "$m" "$(awk -v a="$m" -v b="$p" 'BEGIN {print a / b}')" \
            "$(echo "${B[$sync.$v]}" | median)" "$(echo "${W[$sync.$v]}" | median)"
    done
done
echo
echo "Statements (pg_stat_statements, track = all; nested ones run through SPI inside cqrs.append):"
echo
echo "| calls | mean ms | total ms | statement |"
echo "|---|---|---|---|"
psql -F ' | ' -c "SELECT calls, round(mean_exec_time::numeric, 4), round(total_exec_time::numeric, 1),
                          left(regexp_replace(query, '\s+', ' ', 'g'), 110)
                     FROM pg_stat_statements WHERE calls > 10 ORDER BY total_exec_time DESC LIMIT 12" | sed 's/^/| /; s/$/ |/'
echo
echo "The sequencer's work-list scan (from its horizon) when there is nothing to sequence, after the runs above (no VACUUM since):"
echo
echo '```'
psql -c "SELECT 'events: ' || (SELECT count(*) FROM cqrs.events) || ' rows, ' ||
                n_dead_tup || ' dead; events_append_order_idx: ' || pg_size_pretty(pg_relation_size('cqrs.events_append_order_idx')) ||
                '; last autovacuum: ' || coalesce(last_autovacuum::text, 'never')
           FROM pg_stat_user_tables WHERE relid = 'cqrs.events'::regclass"
psql -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
         SELECT ctid FROM cqrs.events WHERE global_position = 0
            AND append_xid >= (SELECT horizon FROM cqrs.sequencer_state)
          ORDER BY append_xid, append_ordinal LIMIT 10000"
echo '```'
