#!/bin/bash
# Command benchmarks (issue 4): cqrs.send against the physical limit, and a
# hot conference's SeatsAvailability aggregate.
#
#   test/bench/commands.sh [--quick] [--duration S] [--rounds N] [--only LIST]
#                          [--settle-timeout S] [--keep] [--no-pin]
#
#   --quick      smoke run: 1 round of 3 s per configuration (about 3 minutes)
#   --duration   seconds per pgbench run (default 7)
#   --rounds     rounds per configuration (default 5; register alternates
#                ours and plain, odd rounds ours first)
#   --only       comma-separated: register,send,reserve,steady
#   --settle-timeout  how long to wait for the worker after a run (default 300)
#   --keep-timers  do not delete the process manager's expiry timers between
#                runs (see reset_timers in lib.sh)
#   --keep       leave the cluster directory behind (stopped)
#   --no-pin     no CPU pinning of 1-client runs
#
# Scenarios (pgbench -M prepared, synchronous_commit on unless stated):
#
#   register  cmd_register.sql: cqrs.send('RegisterToConference', payload,
#             command_id), a new order id and command id per transaction,
#             1-3 seats, for one published conference with 10.1 M seats;
#             against cmd_register_plain.sql, a single-row INSERT of an
#             OrderPlaced-like event into bench.plain_events (the shape of
#             cqrs.events, as in run.sh).  1, 2 and 8 clients.  Target:
#             ours/plain >= 0.5.  The worker stays on: every order starts the
#             registration process manager, which reserves the seats
#             (MakeSeatReservation on the conference's SeatsAvailability)
#             and marks them reserved on the order (MarkSeatsAsReserved) --
#             during the run, competing for the CPUs as in production.  Two
#             rates for ours:
#               send  orders committed per second (pgbench tps);
#               end to end  orders the worker fully answered during the run
#                     (MarkSeatsAsReserved handled: the order's seats
#                     reserved) per second of the run -- the PM's work
#                     included in the cost, as in production, where it has
#                     to keep up; the orders left unanswered when the run
#                     ends are reported too.
#             Every ours run uses a conference of its own, whose pending set
#             starts empty and grows by one reservation per answered order
#             (as it would for 15 minutes in production; its size at the end
#             is reported).  On one conference the cost per reservation grows
#             with that set (see hotspots.sh), so letting the worker clear a
#             run's backlog would take it many minutes (about N^3); instead,
#             once the run is over, the still pending MakeSeatReservation
#             and MarkSeatsAsReserved commands are deleted (reported as
#             discarded), so that every run starts with an idle worker.
#   send      the same pair of scripts, but ours measures the send path
#             alone: during ours' runs the read models and the process
#             manager (every registered projection) are stopped; the worker
#             still numbers the events (the event store's own work, as in
#             run.sh).  After the run the stopped projections' checkpoints
#             are moved past the run's events (they are never projected:
#             the benchmark's conference is not looked at again) and they
#             are resumed.  This is what the target compares: the cost of
#             cqrs.send against the INSERT, without the downstream work
#             that each order starts in the worker (register shows that
#             work competing for the CPUs; under overload it takes
#             whatever CPU share the scheduler gives the worker).
#             1, 2 and 8 clients.
#   reserve   cmd_reserve.sql: MakeSeatReservation on ONE conference's
#             SeatsAvailability (AddSeats 10 M first), 2 seats, a new
#             reservation id per transaction; the pending set grows during
#             the run (its size at the end is reported).  1, 2, 8 clients.
#   steady    cmd_reserve_steady.sql: the same, plus, in the same
#             transaction, Commit/CancelSeatReservation of the reservation
#             the client made 4 transactions earlier (pending set bounded by
#             4 x clients).  Counts reservations only.  Target for both:
#             >= 2,000 reservations/s.  Also run at 8 clients with
#             synchronous_commit off (diagnostic: how much of the cost is
#             the commit flush, made while the aggregate's lock is held).
#   Each reserve/steady run uses a fresh conference.
#
# Between runs: wait until the worker has settled (every event sequenced and
# projected, the process manager's commands handled), delete the process
# manager's pending expiry timers (lib.sh, reset_timers), CHECKPOINT.
# The process manager's expiry timers are moved out of the run
# (cqrs_conf.pm_expiration_buffer = 6h): otherwise orders of the first runs
# would expire 29 minutes in, during later runs.
#
# Uses the installed extension (scripts/build.sh first).  Prints a markdown
# table and writes it to test/bench/results/commands-<timestamp>.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
duration=7
rounds=5
only=register,send,reserve,steady
keep=0
mode=full
pin=1
settle_timeout=300
keep_timers=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) duration=3; rounds=1; mode=quick ;;
    --duration) duration=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --only) only=$2; shift ;;
    --settle-timeout) settle_timeout=$2; shift ;;
    --keep) keep=1 ;;
    --keep-timers) keep_timers=1 ;;
    --no-pin) pin=0 ;;
    -h|--help) sed -n '2,62p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$only," == *",$1,"* ]]; }
[ "$duration" -ge 3 ] || { echo "--duration must be at least 3" >&2; exit 2; }

. "$here/lib.sh"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
extra_conf="cqrs_conf.pm_expiration_buffer = '6h'"
start_cluster commands
nconf=$((20 * rounds + 2))
psql -v nconf="$nconf" -f "$here/commands_setup.sql" >/dev/null
wait_worker
wait_settled 120
cp "$here"/cmd_*.sql "$work/" && chmod 644 "$work"/cmd_*.sql
wpid=$(psql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker' LIMIT 1")
echo "cluster $work port $port, worker connected: $worker; $rounds round(s) of $duration s" >&2
started=$(date +%s)

next_conf=0
run_no=0
tps= orders= waits= wcpu= settle_s=
# run_pg SCRIPT CLIENTS SYNC [pgbench args]: one timed run on the next
# unused conference; sets tps, orders (transactions), waits (wait-event
# samples of pgbench's backends), wcpu (the worker's CPU use in % of one
# CPU over the run).
run_pg() {
    local script=$1 clients=$2 sync=$3 pb cid sid w0 w1 t0 t1 i sample=() out threads
    shift 3
    run_no=$((run_no + 1)); next_conf=$((next_conf + 1))
    cid=$(psql -c "SELECT bench.conf($next_conf)"); sid=$(psql -c "SELECT bench.seat($next_conf)")
    threads=$(( clients < 2 ? clients : 2 ))
    psql -c "CHECKPOINT"
    place "$clients"
    local pgcpu=()
    [ "$pinned" -eq 1 ] && pgcpu=(taskset -c 0)
    w0=$(cpu_s "$wpid"); t0=$(date +%s.%N)
    PGOPTIONS="-c synchronous_commit=$sync" as_pg "${pgcpu[@]}" "$bin/pgbench" -h "$work" -p "$port" -U postgres \
        -n -M prepared -T "$duration" -c "$clients" -j "$threads" \
        -D run="$run_no" -D n=0 -D lag=4 -D cid="$cid" -D sid="$sid" "$@" -f "$work/$script" "$db" >"$work/pgbench.out" 2>&1 &
    pb=$!
    [ "$pinned" -eq 1 ] && pin_client_backend
    sleep "$(awk -v d="$duration" 'BEGIN {print d / 2 - 0.5}')"
    for i in $(seq 1 20); do
        sample+=(-c "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity
                      WHERE application_name = 'pgbench' AND state = 'active'" -c "SELECT pg_sleep(0.05)")
    done
    waits=$(psql "${sample[@]}" | { grep -v '^$' || true; } | sort | uniq -c | sort -rn | awk '{printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1}')
    if ! wait "$pb"; then
        echo "pgbench failed for $script:" >&2; cat "$work/pgbench.out" >&2; exit 1
    fi
    w1=$(cpu_s "$wpid"); t1=$(date +%s.%N)
    out=$(cat "$work/pgbench.out")
    if grep -q 'failed transactions: [1-9]' <<<"$out"; then
        echo "pgbench reported failed transactions for $script:" >&2; echo "$out" >&2; exit 1
    fi
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out" | awk '{printf "%.1f", $1}')
    orders=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$tps" ] || { echo "no tps in pgbench output: $out" >&2; exit 1; }
    wcpu=$(awk -v a="$w0" -v b="$w1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.0f", 100 * (b - a) / (e - s)}')
}
# After a run: no rejected or failed command allowed.
check_commands() {
    local bad
    bad=$(psql -c "SELECT string_agg(command_type || ' ' || status || ': ' || coalesce(reason, '') || ' x' || n, '; ')
                     FROM (SELECT command_type, status, reason, count(*) n FROM cqrs.commands
                            WHERE status = 'rejected' GROUP BY 1, 2, 3) s")
    [ -z "$bad" ] || { echo "rejected commands: $bad" >&2; exit 1; }
}
settle() {
    wait_settled "$settle_timeout"
    if [ "$settle_s" = timeout ]; then
        echo "  the worker had not settled after $settle_timeout s; finishing with cqrs.drain()" >&2
        psql -c "SELECT cqrs.drain()" >/dev/null
    fi
    check_commands
    reset_timers >/dev/null
}
completed() { psql -c "SELECT count(*) FROM cqrs.commands WHERE command_type = 'MarkSeatsAsReserved' AND status = 'accepted'"; }
# After a register run: delete the process manager's pending commands (until
# the process manager has no more events to turn into commands); sets
# discarded.  The worker's step in progress commits first (its claimed rows
# are locked; the DELETE waits for them and then skips them, no longer
# pending).
clear_backlog() {
    local n i
    discarded=0
    for i in $(seq 1 600); do
        n=$(psql -c "WITH d AS (DELETE FROM cqrs.commands WHERE status = 'pending' AND due_at IS NULL
                                   AND command_type IN ('MakeSeatReservation', 'MarkSeatsAsReserved') RETURNING 1)
                     SELECT count(*) FROM d")
        discarded=$((discarded + n))
        settled && return 0
        sleep 0.2
    done
    echo "the worker did not settle after the backlog was cleared" >&2
    exit 1
}

rows=() srows=() rrows=() details=() waitlog=()

# Warm-up, not measured: 2 s of each register script on the last
# conference (the first timed run after setup came out at a fraction of
# the others in some runs), then the backlog cleared as after every run.
for script in cmd_register.sql cmd_register_plain.sql; do
    as_pg "$bin/pgbench" -h "$work" -p "$port" -U postgres -n -M prepared -T 2 -c 2 -j 2 \
        -D cid="$(psql -c "SELECT bench.conf($nconf)")" -D sid="$(psql -c "SELECT bench.seat($nconf)")" \
        -f "$work/$script" "$db" >/dev/null
done
clear_backlog
settle
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
med1() { echo "$*" | median | awk '{printf "%.1f", $1}'; }

# The send scenario: stop every running projection for ours' run; after it,
# once the sequencer has numbered the run's events, move the stopped
# projections past them and resume them.
paused=
pause_projections() {
    paused=$(psql -c "SELECT string_agg(name, ',') FROM cqrs.projections WHERE state = 'running'")
    psql -c "SELECT cqrs.stop_projection(name) FROM cqrs.projections WHERE state = 'running'" >/dev/null
}
skip_and_resume_projections() {
    local i
    for i in $(seq 1 600); do
        [ "$(psql -c "SELECT (SELECT unsequenced_events = 0 FROM cqrs.sequencer_status)")" = t ] && break
        sleep 0.1
    done
    psql -c "UPDATE cqrs.projections SET position = (SELECT last_position FROM cqrs.sequencer_state)
              WHERE name = ANY (string_to_array('$paused', ','))" >/dev/null
    psql -c "SELECT cqrs.resume_projection(name) FROM unnest(string_to_array('$paused', ',')) name" >/dev/null
}

# The plain side of register and send: LABEL CLIENTS ROUND.
plain_side() {
    run_pg cmd_register_plain.sql "$2" on
    p+=("$tps"); plain_tps=$tps
    waitlog+=("| $1 plain, $2 client(s), round $3 | $tps | | $waits |")
    printf '  %s %d client(s) round %d: plain %8.1f tps\n' "$1" "$2" "$3" "$tps" >&2
}

# ---------------------------------------------------------------- register
if want register; then
    for clients in 1 2 8; do
        o=() p=() e=() bl=() pd=() dc=() wc=() q=()
        for r in $(seq 1 "$rounds"); do
            for side in $([ $((r % 2)) -eq 1 ] && echo "ours plain" || echo "plain ours"); do
                if [ "$side" = ours ]; then
                    c0=$(completed)
                    run_pg cmd_register.sql "$clients" on
                    done_n=$(( $(completed) - c0 ))
                    backlog=$((orders - done_n))
                    pend=$(psql -c "SELECT bench.pending($next_conf)")
                    clear_backlog
                    settle
                    e2e=$(awk -v n="$done_n" -v d="$duration" 'BEGIN {printf "%.1f", n / d}')
                    o+=("$tps"); wc+=("$wcpu"); ours_tps=$tps; e+=("$e2e"); bl+=("$backlog"); pd+=("$pend"); dc+=("$discarded")
                    waitlog+=("| register ours, $clients client(s), round $r | $tps | worker CPU $wcpu% | $waits |")
                    printf '  register %d client(s) round %d: ours %8.1f tps (%d orders; %d answered during the run: end to end %s/s; %d pending reservations at the end; %d unanswered, %d PM commands discarded; worker CPU %s%%)\n' \
                        "$clients" "$r" "$tps" "$orders" "$done_n" "$e2e" "$pend" "$backlog" "$discarded" "$wcpu" >&2
                else
                    plain_side "register" "$clients" "$r"
                fi
            done
            q+=("$(ratio "$ours_tps" "$plain_tps")")
        done
        mo=$(med1 "${o[*]}"); mp=$(med1 "${p[*]}"); me=$(med1 "${e[*]}")
        rt=$(ratio "$mo" "$mp"); re=$(ratio "$me" "$mp")
        rows+=("| $clients | $mo | $mp | **$rt** | $(echo "${q[*]}" | median | awk '{printf "%.2f", $1}') | $(awk -v r="$rt" 'BEGIN {print (r >= 0.5) ? "met" : "MISSED"}') | $me | **$re** | $(awk -v r="$re" 'BEGIN {print (r >= 0.5) ? "met" : "MISSED"}') | $(med1 "${bl[*]}") | $(med1 "${pd[*]}") | $(med1 "${wc[*]}") |")
        details+=("| register, $clients client(s) | ours tps | ${o[*]} |" "| register, $clients client(s) | plain tps | ${p[*]} |"
                  "| register, $clients client(s) | ours end to end /s | ${e[*]} |" "| register, $clients client(s) | unanswered at the end of the run | ${bl[*]} |"
                  "| register, $clients client(s) | pending reservations at the end | ${pd[*]} |" "| register, $clients client(s) | PM commands discarded after the run | ${dc[*]} |")
    done
fi

# ---------------------------------------------------------------- send
if want send; then
    for clients in 1 2 8; do
        o=() p=() wc=() q=()
        for r in $(seq 1 "$rounds"); do
            for side in $([ $((r % 2)) -eq 1 ] && echo "ours plain" || echo "plain ours"); do
                if [ "$side" = ours ]; then
                    pause_projections
                    run_pg cmd_register.sql "$clients" on
                    skip_and_resume_projections
                    settle
                    o+=("$tps"); wc+=("$wcpu"); ours_tps=$tps
                    waitlog+=("| send path ours, $clients client(s), round $r | $tps | worker CPU $wcpu% | $waits |")
                    printf '  send path %d client(s) round %d: ours %8.1f tps (%d orders; worker CPU %s%%)\n' \
                        "$clients" "$r" "$tps" "$orders" "$wcpu" >&2
                else
                    plain_side "send path" "$clients" "$r"
                fi
            done
            q+=("$(ratio "$ours_tps" "$plain_tps")")
        done
        mo=$(med1 "${o[*]}"); mp=$(med1 "${p[*]}"); rt=$(ratio "$mo" "$mp")
        srows+=("| $clients | $mo | $mp | **$rt** | $(echo "${q[*]}" | median | awk '{printf "%.2f", $1}') | $(awk -v r="$rt" 'BEGIN {print (r >= 0.5) ? "met" : "MISSED"}') | $(med1 "${wc[*]}") |")
        details+=("| send path, $clients client(s) | ours tps | ${o[*]} |" "| send path, $clients client(s) | plain tps | ${p[*]} |")
    done
fi

# ---------------------------------------------------------------- reserve / steady
reserve_rows() {   # NAME SCRIPT
    local name=$1 script=$2 cfg clients sync r o pe wc
    for cfg in "1 on" "2 on" "8 on" "8 off"; do
        set -- $cfg; clients=$1; sync=$2
        o=() pe=() wc=()
        for r in $(seq 1 "$rounds"); do
            run_pg "$script" "$clients" "$sync"
            pend=$(psql -c "SELECT bench.pending($next_conf)")
            o+=("$tps"); pe+=("$pend"); wc+=("$wcpu")
            waitlog+=("| $name, $clients client(s), sync $sync, round $r | $tps | worker CPU $wcpu% | $waits |")
            printf '  %s %d client(s) sync %s round %d: %8.1f reservations/s, %d pending at the end, worker CPU %s%%\n' \
                "$name" "$clients" "$sync" "$r" "$tps" "$pend" "$wcpu" >&2
            settle
        done
        m=$(med1 "${o[*]}")
        rrows+=("| $name | $clients | $sync | **$m** | $(echo "${pe[*]}" | median) | $(med1 "${wc[*]}") | 2,000 | $([ "$sync" = on ] && awk -v m="$m" 'BEGIN {print (m >= 2000) ? "met" : "MISSED"}' || echo "(diagnostic)") |")
        details+=("| $name, $clients client(s), sync $sync | reservations/s | ${o[*]} |" "| $name, $clients client(s), sync $sync | pending at the end | ${pe[*]} |")
    done
}
want reserve && reserve_rows "reserve only" cmd_reserve.sql
want steady && reserve_rows "steady (commit/cancel 4 back)" cmd_reserve_steady.sql

# ---------------------------------------------------------------- report
elapsed=$(( $(date +%s) - started ))
pgver=$(psql -c "SHOW server_version")
stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
report() {
    echo "# cqrs_conf command benchmark $stamp ($mode)"
    echo
    echo "Commit $commit; PostgreSQL $pgver; $(machine_line "$load_start")."
    echo "pgbench -M prepared, $rounds round(s) of ${duration} s per configuration, medians; shared_buffers=$shared_buffers,"
    echo "max_wal_size=8GB, fsync on; background worker connected: $worker (on during every run);"
    echo "every run on a conference of its own; before every run: worker settled, $([ "$keep_timers" -eq 1 ] && echo "expiry timers kept" || echo "pending expiry timers deleted"), CHECKPOINT;"
    echo "CPU pinning for 1-client runs: $([ "$pin" -eq 1 ] && echo "pgbench and its backend on CPU 0, every other server process on CPU 1" || echo off). Wall time ${elapsed} s."
    echo
    if [ ${#rows[@]} -gt 0 ]; then
        echo "RegisterToConference through cqrs.send (a new order and command id per transaction, one published conference)"
        echo "against a plain single-row INSERT into a table of the shape of cqrs.events; synchronous_commit on."
        echo "\"End to end\": orders per second of the run that the worker also fully answered during the run (process manager:"
        echo "MakeSeatReservation, then MarkSeatsAsReserved handled). The conference's pending reservations grow by one per answered order;"
        echo "after each run the process manager's still pending commands are deleted (the worker's cost per reservation grows with the pending set)."
        echo
        echo "| clients | ours tps (send) | plain tps | ours/plain | median of round ratios | target 0.5 | ours end to end /s | end to end / plain | target 0.5 | orders unanswered when the run ended | pending reservations at the end | worker CPU % |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
        echo
    fi
    if [ ${#srows[@]} -gt 0 ]; then
        echo "The send path alone: the same RegisterToConference sends against the same plain INSERT, with the read models and the"
        echo "process manager stopped during ours' runs (the worker still numbers the events, the event store's own work, as in run.sh);"
        echo "afterwards their checkpoints are moved past the run's events, which are never projected. synchronous_commit on."
        echo
        echo "| clients | ours tps (send) | plain tps | ours/plain | median of round ratios | target 0.5 | worker CPU % |"
        echo "|---|---|---|---|---|---|---|"
        printf '%s\n' "${srows[@]}"
        echo
    fi
    if [ ${#rrows[@]} -gt 0 ]; then
        echo "Hot conference: MakeSeatReservation through cqrs.send on one conference's SeatsAvailability aggregate (2 seats each)."
        echo "\"steady\": each transaction also commits or cancels the reservation its client made 4 transactions earlier (one transaction, two commands); only reservations counted."
        echo
        echo "| variant | clients | synchronous_commit | reservations/s | pending reservations at the end | worker CPU % | target | |"
        echo "|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${rrows[@]}"
        echo
    fi
    echo "What pgbench's backends were doing, 20 samples 50 ms apart at mid-run (CPU = running, no wait event), and the worker's CPU use over the run:"
    echo
    echo "| run | tps | worker | samples |"
    echo "|---|---|---|---|"
    printf '%s\n' "${waitlog[@]}"
    echo
    echo "Per round:"
    echo
    echo "| scenario | figure | per round |"
    echo "|---|---|---|"
    printf '%s\n' "${details[@]}"
}
mkdir -p "$here/results"
report | tee "$here/results/commands-$stamp.md"
if [ "$(id -u)" -eq 0 ]; then chown -R --reference="$here" "$here/results" 2>/dev/null || true; fi
echo "written to test/bench/results/commands-$stamp.md" >&2
