#!/bin/bash
# Event store benchmarks: cqrs_conf against the physical limit (plain
# INSERT/SELECT of the same rows into a table of the same shape), measured
# side by side on one throwaway cluster, alternating the two in every round.
#
#   test/bench/run.sh [--quick] [--duration S] [--rounds N] [--only LIST] [--keep]
#
#   --quick      3 s runs, 3 rounds (a smoke run of about 3 minutes)
#   --duration   seconds per pgbench run (default 7)
#   --rounds     alternating rounds per scenario (default 5)
#   --only       comma-separated scenarios: append1,read,bulk,load
#   --keep       leave the cluster directory behind (it is stopped)
#   --no-pin     do not pin processes to CPUs (see "placement" below)
#
# Uses the installed extension: run scripts/build.sh (as root) first.  Runs
# the server as the postgres user (PostgreSQL refuses root).  Prints a table
# and writes it to test/bench/results/<timestamp>.md.  See docs/performance.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
duration=7
rounds=5
only=append1,read,bulk,load
keep=0
mode=full
pin=1

while [ $# -gt 0 ]; do
    case $1 in
    --quick) duration=3; rounds=3; mode=quick ;;
    --duration) duration=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --only) only=$2; shift ;;
    --keep) keep=1 ;;
    --no-pin) pin=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$only," == *",$1,"* ]]; }

# ---------------------------------------------------------------- cluster
# lib.sh: the throwaway cluster, psql, CPU placement, medians.
. "$here/lib.sh"
start_cluster bench
psql -f "$here/setup.sql" >/dev/null

# The background worker sequences like in production; cqrs.drain() below
# makes sure nothing is left between runs.
wait_worker

# Scripts generated here rather than stored: one call with 1,000 events, and
# the multi-row INSERT of the same 1,000 rows.
gen_bulk() {
    local n=1000 i sep
    {
        echo '\if :v = -1'
        echo "SELECT md5('bo-' || :run::text || '-' || :client_id::text)::uuid AS sid \\gset"
        echo '\endif'
        printf "SELECT cqrs.append(:sid, 'Bench', :v, '"
        psql -c "SELECT bench.events($n)::text" | tr -d '\n'
        echo "') AS v \\gset"
    } >"$work/bulk_ours.sql"
    {
        echo '\if :v = -1'
        echo "SELECT md5('bp-' || :run::text || '-' || :client_id::text)::uuid AS sid \\gset"
        echo '\endif'
        printf '%s' "INSERT INTO bench.plain_events (stream_id, stream_type, version, event_type, data, metadata, event_id, append_xid, append_ordinal)"
        printf '%s' " SELECT :sid, 'Bench', :v::bigint + x.n, x.t, x.d, '{}', gen_random_uuid(), pg_current_xact_id(), x.n - 1 FROM (VALUES "
        psql -c "SELECT string_agg(format('(%s, %L, %L::jsonb)', g, 'BenchHappened', bench.event(g)->'data'), ', ' ORDER BY g) FROM generate_series(1, $n) g" | tr -d '\n'
        echo ") AS x(n, t, d);"
        echo "\\set v :v + $n"
    } >"$work/bulk_plain.sql"
    chmod 644 "$work"/bulk_*.sql
}

# ---------------------------------------------------------------- placement
# On a small VM, where the scheduler happens to put pgbench and a lone
# backend decides a 1-client run by a factor of two (a wakeup across vCPUs
# costs tens of microseconds), so 1-client runs pin: pgbench and its
# backend on CPU 0; the postmaster and everything it forks besides (the
# cqrs_conf worker, WAL writer, checkpointer, autovacuum workers ...) on
# CPU 1 -- as in production, where the worker has a core of its own.  Runs
# with more clients let the scheduler use every CPU for everything
# (lib.sh: place, pin_client_backend).

# ---------------------------------------------------------------- running
run_no=0
# pgbench_tps SCRIPT CLIENTS SYNC [pgbench args...]: one timed run, sets $tps
# (not a subshell: run_no must count every run, so that each run appends to
# fresh streams).
tps=
pgbench_tps() {
    local script=$1 clients=$2 sync=$3 out threads
    shift 3
    run_no=$((run_no + 1))
    threads=$(( clients < 2 ? clients : 2 ))
    # Start every run from the same state: nothing left for the sequencer,
    # a fresh checkpoint.
    psql -c "SELECT cqrs.drain()" >/dev/null
    psql -c "CHECKPOINT"
    place "$clients"
    local pgcpu=() pb log_before
    [ "$pinned" -eq 1 ] && pgcpu=(taskset -c 0)
    log_before=$(wc -l <"$work/server.log")
    PGOPTIONS="-c synchronous_commit=$sync ${session_options:-}" as_pg "${pgcpu[@]}" "$bin/pgbench" -h "$work" -p "$port" -U postgres \
        -n -M prepared -T "$duration" -c "$clients" -j "$threads" \
        -D run="$run_no" -D v=-1 "$@" -f "$script" "$db" >"$work/pgbench.out" 2>&1 &
    pb=$!
    [ "$pinned" -eq 1 ] && pin_client_backend
    # Halfway through, note what else the server is busy with, and sample
    # what pgbench's backends wait on (20 samples, 50 ms apart).
    sleep "$(awk -v d="$duration" 'BEGIN {print d / 2 - 0.5}')"
    busy=$(psql -c "SELECT string_agg(DISTINCT coalesce(nullif(query, ''), backend_type), '; ')
                      FROM pg_stat_activity
                     WHERE state = 'active' AND pid <> pg_backend_pid()
                       AND coalesce(application_name, '') <> 'pgbench'
                       AND backend_type <> 'cqrs_conf worker'")
    local sample=() i
    for i in $(seq 1 20); do
        sample+=(-c "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity
                      WHERE application_name = 'pgbench' AND state = 'active'" -c "SELECT pg_sleep(0.05)")
    done
    waits=$(psql "${sample[@]}" | { grep -v '^$' || true; } | sort | uniq -c | sort -rn | awk '{printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1}')
    if ! wait "$pb"; then
        echo "pgbench failed for $script:" >&2
        cat "$work/pgbench.out" >&2
        exit 1
    fi
    out=$(cat "$work/pgbench.out")
    # Autovacuums that finished during the run (noise, or part of the cost).
    av=$(tail -n +"$((log_before + 1))" "$work/server.log" | sed -n 's/.*automatic vacuum of table "[^.]*\.\([^"]*\)".*/finished \1/p' | sort -u | tr '\n' ' ')
    [ -n "$busy" ] && av="$av running at mid-run: $busy"
    if grep -q 'failed transactions: [1-9]' <<<"$out"; then
        echo "pgbench reported failed transactions for $script:" >&2
        echo "$out" >&2
        exit 1
    fi
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out" | awk '{printf "%.1f", $1}')
    [ -n "$tps" ] || { echo "no tps in pgbench output: $out" >&2; exit 1; }
}


avs=()        # autovacuums that finished during a run
av=
waitlog=()    # wait-event samples of pgbench's backends, per run
note_av() { [ -n "$av" ] && avs+=("- $1: $av") || true; waitlog+=("| $1 | $tps | $waits |"); }
rows=()       # result table rows, markdown
details=()    # per-round figures
# compare NAME TARGET CLIENTS SYNC OURS_SCRIPT PLAIN_SCRIPT [pgbench args]
compare() {
    local name=$1 target=$2 clients=$3 sync=$4 ours=$5 plain=$6 r a b o=() p=() q=()
    shift 6
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) -eq 1 ]; then
            pgbench_tps "$ours" "$clients" "$sync" "$@"; a=$tps; note_av "$name, $clients client(s), sync $sync, round $r, ours"
            pgbench_tps "$plain" "$clients" "$sync" "$@"; b=$tps; note_av "$name, $clients client(s), sync $sync, round $r, plain"
        else
            pgbench_tps "$plain" "$clients" "$sync" "$@"; b=$tps; note_av "$name, $clients client(s), sync $sync, round $r, plain"
            pgbench_tps "$ours" "$clients" "$sync" "$@"; a=$tps; note_av "$name, $clients client(s), sync $sync, round $r, ours"
        fi
        o+=("$a"); p+=("$b"); q+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a / b}')")
        printf '  %-34s round %d: ours %10.1f  plain %10.1f  ratio %.3f\n' "$name" "$r" "$a" "$b" \
            "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')" >&2
    done
    local mo mp ratio paired
    mo=$(echo "${o[*]}" | median | awk '{printf "%.1f", $1}'); mp=$(echo "${p[*]}" | median | awk '{printf "%.1f", $1}')
    ratio=$(awk -v a="$mo" -v b="$mp" 'BEGIN {printf "%.2f", a / b}')
    paired=$(echo "${q[*]}" | median | awk '{printf "%.2f", $1}')
    rows+=("| $name | $clients | $sync | $mo | $mp | **$ratio** | $paired | $target | $(awk -v r="$ratio" -v t="$target" 'BEGIN {print (r + 0 >= t + 0) ? "met" : "MISSED"}') |")
    details+=("| $name, $clients client(s), sync $sync | ours | ${o[*]} |" "| $name, $clients client(s), sync $sync | plain | ${p[*]} |")
}

echo "cluster $work port $port, worker connected: $worker; ${rounds} rounds of ${duration} s" >&2
started=$(date +%s)

if want read || want load; then
    echo "building the read and load streams ..." >&2
    psql -f "$here/data.sql" >/dev/null
    psql -c "SELECT cqrs.drain()" >/dev/null
    psql -c "INSERT INTO bench.plain_events SELECT * FROM cqrs.events WHERE stream_id = '00000000-0000-4000-8000-000000000001'"
    psql -c "VACUUM ANALYZE cqrs.events" -c "VACUUM ANALYZE cqrs.snapshots" -c "VACUUM ANALYZE bench.plain_events"
fi

if want read; then
    compare "read_stream, 1,000 events" 0.9 1 on "$here/read_ours.sql" "$here/read_plain.sql" \
        -D sid=00000000-0000-4000-8000-000000000001
fi

load_rows=()
if want load; then
    declare -A lt
    for r in $(seq 1 "$rounds"); do
        for s in 0010 1000 1049; do
            # Without the session's state cache: every load reads the
            # latest snapshot and the tail, as a first load in a session does.
            session_options="-c cqrs_conf.state_cache_size=0" \
                pgbench_tps "$here/load.sql" 1 on -D sid=00000000-0000-4000-8000-00000000$s; note_av "load $s, round $r"
            lt[$s]="${lt[$s]:-} $tps"
        done
        echo "  load round $r: tps for 10 events $(echo "${lt[0010]}" | awk '{print $NF}'), 100,000 $(echo "${lt[1000]}" | awk '{print $NF}'), worst tail $(echo "${lt[1049]}" | awk '{print $NF}')" >&2
    done
    m10=$(echo "${lt[0010]}" | median | awk '{printf "%.1f", $1}')
    for s in 0010 1000 1049; do
        m=$(echo "${lt[$s]}" | median | awk '{printf "%.1f", $1}')
        info=$(psql -c "SELECT (SELECT max(version) + 1 FROM cqrs.events WHERE stream_id = '00000000-0000-4000-8000-00000000$s') || ' events, tail ' ||
                              ((SELECT max(version) FROM cqrs.events WHERE stream_id = '00000000-0000-4000-8000-00000000$s')
                               - coalesce((SELECT max(version) FROM cqrs.snapshots WHERE stream_id = '00000000-0000-4000-8000-00000000$s'), -1))")
        ratio=$(awk -v a="$m" -v b="$m10" 'BEGIN {printf "%.2f", a / b}')
        verdict="-"
        [ "$s" != 0010 ] && verdict=$(awk -v r="$ratio" 'BEGIN {print (r >= 0.5) ? "met" : "MISSED"}')
        load_rows+=("| $info | $m | **$ratio** | $verdict |")
        details+=("| load $info | ours | ${lt[$s]} |")
    done
fi

if want append1; then
    for cfg in "1 on" "2 on" "8 on" "1 off" "2 off"; do
        set -- $cfg
        target=0.9; [ "$2" = off ] && target=0.8
        compare "append 1 event, exact version" "$target" "$1" "$2" "$here/append1_ours.sql" "$here/append1_plain.sql"
    done
fi

if want bulk; then
    gen_bulk
    compare "append 1,000 events in one call" 0.7 1 on "$work/bulk_ours.sql" "$work/bulk_plain.sql"
fi

# ---------------------------------------------------------------- report
elapsed=$(( $(date +%s) - started ))
payload=$(psql -c "SELECT pg_column_size(bench.event(1)->'data')")
pgver=$(psql -c "SHOW server_version")
snap=$(psql -c "SHOW cqrs_conf.snapshot_every")
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)

report() {
    echo "# cqrs_conf benchmark $stamp ($mode)"
    echo
    echo "Commit $commit; PostgreSQL $pgver; $(nproc) CPUs ($cpu), $mem; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "pgbench -M prepared, $rounds alternating rounds of ${duration} s, medians of tps; shared_buffers=$shared_buffers,"
    echo "max_wal_size=8GB, fsync on, cqrs_conf.snapshot_every=$snap, background worker connected: $worker;"
    echo "event data $payload bytes (jsonb); drain + CHECKPOINT before every run; CPU pinning for 1-client runs: $([ "$pin" -eq 1 ] && echo "pgbench and its backend on CPU 0, every other server process on CPU 1" || echo off)."
    echo "Wall time ${elapsed} s."
    echo
    if [ ${#rows[@]} -gt 0 ]; then
        echo "| scenario | clients | synchronous_commit | ours tps | plain tps | ours/plain (medians) | median of round ratios | target | |"
        echo "|---|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
        echo
    fi
    if [ ${#load_rows[@]} -gt 0 ]; then
        echo "cqrs.load, 1 client, snapshot_every=$snap (target: a 100,000-event stream within 2x a 10-event stream, i.e. ratio >= 0.5):"
        echo
        echo "| stream | tps | ratio to the 10-event stream | |"
        echo "|---|---|---|---|"
        printf '%s\n' "${load_rows[@]}"
        echo
    fi
    echo "Other server activity during the timed runs (autovacuums that finished, and what was active at mid-run besides pgbench and the cqrs_conf worker):"
    echo
    if [ ${#avs[@]} -gt 0 ]; then printf '%s\n' "${avs[@]}"; else echo "- none"; fi
    echo
    echo "What pgbench's backends were doing, 20 samples 50 ms apart at mid-run (CPU = running, no wait event):"
    echo
    echo "| run | tps | samples |"
    echo "|---|---|---|"
    printf '%s\n' "${waitlog[@]}"
    echo
    echo "Per-round tps:"
    echo
    echo "| scenario | side | tps per round |"
    echo "|---|---|---|"
    printf '%s\n' "${details[@]}"
}

mkdir -p "$here/results"
report | tee "$here/results/$stamp.md"
if [ "$(id -u)" -eq 0 ]; then chown -R --reference="$here" "$here/results" 2>/dev/null || true; fi
echo "written to test/bench/results/$stamp.md" >&2
