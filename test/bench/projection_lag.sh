#!/bin/bash
# Projection benchmarks (issue 6): how far the read models fall behind at
# the maximum rate of realistic commands, and commit -> read model visible
# latency at half of it.
#
#   test/bench/projection_lag.sh [--quick] [--duration S] [--rounds N]
#                                [--clients C] [--conferences K] [--rate R]
#                                [--settle-timeout S] [--keep-timers] [--keep]
#
#   --quick        smoke run: 1 round, 8 s per phase (about 2 minutes)
#   --duration     seconds of load per phase (default 20)
#   --rounds       rounds of (a) then (b) (default 5; medians reported)
#   --clients      pgbench clients of the load (default 4)
#   --conferences  conferences the load spreads its orders over, fresh ones
#                  for every phase (default 20)
#   --rate         phase (b)'s rate in orders/s instead of half of (a)'s
#                  maximum
#   --keep-timers  do not delete the process manager's expiry timers between
#                  phases (see reset_timers in lib.sh)
#
# The load: lag_register.sql, RegisterToConference commands through
# cqrs.send, a new order each, over --conferences published conferences
# with plenty of seats (commands_setup.sql), synchronous_commit on.  Each
# order makes the worker sequence 2 events (OrderPlaced, OrderTotalsCalculated),
# run the 9 installed projections over them -- one of them the
# registration process manager, which enqueues MakeSeatReservation, whose
# SeatsReserved it answers with MarkSeatsAsReserved: 2 more commands and 2
# more events (SeatsReserved, OrderReservationCompleted) per order, all
# handled and projected by the worker.
#
# (a) Maximum: pgbench unthrottled for --duration s.  A sampler (one psql
#     call per second) records the sequencer's last position, the events
#     still unsequenced, the slowest running projection's position (from
#     cqrs.projection_status; the process manager is one of them), the
#     largest lag_seconds, and the process manager's commands still pending
#     (enqueued, not yet handled; its timers not counted).  Total lag =
#     events appended (sequenced or not) - the slowest projection's position.
#     Reported: the append rate (events/s appended during the load, the
#     process manager's included), the slowest projection's rate, the
#     least-squares slope of the total lag and of the pending commands over
#     the load, the mean total lag over the first and the second half of
#     the load ("grows" when the second is over 1.5 x the first + 200
#     events), the lag at the end of the load, the worker's CPU use, and the
#     catch-up time (until the worker has settled).  The sustainable maximum
#     = orders / (load + catch-up): the rate at which the whole pipeline --
#     commands, process manager, projections -- keeps up.
# (b) Latency: the load at half that sustainable maximum (pgbench -R, or
#     --rate), fresh conferences; after 1 s a probe session (lag_probe.sql,
#     bench.probe) performs actions one after another for --duration - 2 s,
#     20 ms apart, and polls until each one is visible in a read model: a
#     new order (for a conference of its own, fresh for each probe phase)
#     in conference.draft_orders, a
#     conference update in conference.conference_view.  Latency =
#     clock_timestamp() in the server at the first poll that sees the row -
#     clock_timestamp() just after the action's COMMIT returned, polling
#     every 1 ms (resolution about 1 ms: late by up to one poll, never
#     early).  p50 / p90 / p99 / max per read model; target p99 <= 50 ms.
#     Cross-check (track_commit_timestamp = on): commit timestamp of the
#     read-model row version the poll found - commit timestamp of the
#     action; no polling delay in it, but if the row was updated again
#     before the poll found it, the later version's commit counts.  Then the
#     same probe for 4 s with no load ("idle"), for reference.
# Between phases: worker settled, the process manager's pending expiry
# timers deleted (lib.sh, reset_timers), CHECKPOINT.
#
# Uses the installed extension (scripts/build.sh first); a throwaway cluster
# as in run.sh (worker on, cqrs_conf.pm_expiration_buffer = 6h so no order
# expires during the run).  Prints markdown tables and writes them, with the
# per-second samples, to test/bench/results/projection-lag-<timestamp>.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
duration=20
rounds=5
clients=4
nconf=20
rate=
keep=0
pin=0
mode=full
settle_timeout=300
keep_timers=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) duration=8; rounds=1; mode=quick ;;
    --duration) duration=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --clients) clients=$2; shift ;;
    --conferences) nconf=$2; shift ;;
    --rate) rate=$2; shift ;;
    --settle-timeout) settle_timeout=$2; shift ;;
    --keep) keep=1 ;;
    --keep-timers) keep_timers=1 ;;
    -h|--help) sed -n '2,75p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$duration" -ge 5 ] || { echo "--duration must be at least 5" >&2; exit 2; }

. "$here/lib.sh"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
extra_conf="cqrs_conf.pm_expiration_buffer = '6h'
track_commit_timestamp = on"
start_cluster projlag
# conferences: 2 x nconf per round for the load, then 2 per round for the
# probe's orders (a fresh one for each probe phase: the pending set of the
# probe's conference grows with every probe order, and the process
# manager's reservation for it runs in the same worker step as the
# projections), and one whose updates the probe publishes
total_conf=$((2 * rounds * nconf + 2 * rounds + 1))
psql -v nconf="$total_conf" -f "$here/commands_setup.sql" >/dev/null
psql -f "$here/lag_probe.sql" >/dev/null
wait_worker
wait_settled 120
wpid=$(psql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker' LIMIT 1")
cp "$here/lag_register.sql" "$work/" && chmod 644 "$work/lag_register.sql"
probe_base=$((2 * rounds * nconf)) update_conf=$total_conf
echo "cluster $work port $port, worker connected: $worker; $rounds round(s), $duration s per phase, $clients clients, $nconf conferences per phase" >&2
started=$(date +%s)

# ---------------------------------------------------------------- sampler
# One line per second: epoch, phase, appended events (sequenced + not yet),
# sequencer's last position, slowest running projection's position and
# name, max lag_seconds, process-manager commands pending (not timers).
samples=$work/samples.txt
: >"$samples"; chmod 666 "$samples"
phase=idle
sample_once() {
    psql -F ' ' -c "SELECT extract(epoch FROM clock_timestamp()), '$1',
        s.last_position + (SELECT unsequenced_events FROM cqrs.sequencer_status),
        s.last_position,
        (SELECT min(position) FROM cqrs.projection_status WHERE state = 'running'),
        (SELECT name FROM cqrs.projection_status WHERE state = 'running' ORDER BY position, name LIMIT 1),
        (SELECT round(max(lag_seconds)::numeric, 3) FROM cqrs.projection_status WHERE state = 'running'),
        (SELECT count(*) FROM cqrs.commands WHERE status = 'pending' AND (due_at IS NULL OR due_at <= now()))
      FROM cqrs.sequencer_state s" >>"$samples"
}
# sample_while PID TAG: sample every second while PID lives
sample_while() {
    local next
    next=$(date +%s.%N)
    while kill -0 "$1" 2>/dev/null; do
        sample_once "$2"
        next=$(awk -v n="$next" 'BEGIN {printf "%.3f", n + 1}')
        sleep "$(awk -v n="$next" -v now="$(date +%s.%N)" 'BEGIN {d = n - now; printf "%.3f", (d > 0 ? d : 0)}')"
    done
}
# settle, sampling every second meanwhile; sets settle_s
settle_sampling() {
    local tag=$1 t0 now
    t0=$(date +%s.%N)
    while true; do
        sample_once "$tag"
        settled && break
        now=$(date +%s.%N)
        if awk -v a="$now" -v b="$t0" -v t="$settle_timeout" 'BEGIN {exit !(a - b > t)}'; then
            settle_s=timeout
            echo "  the worker had not settled after $settle_timeout s; finishing with cqrs.drain()" >&2
            psql -c "SELECT cqrs.drain()" >/dev/null
            return 0
        fi
        sleep 1
    done
    settle_s=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')
}

run_load() {   # OFFSET TAG [pgbench args]: load in the background, sets pb
    local off=$1 tag=$2
    shift 2
    PGOPTIONS="-c synchronous_commit=on" as_pg "$bin/pgbench" -h "$work" -p "$port" -U postgres \
        -n -M prepared -T "$duration" -c "$clients" -j "$(( clients < 2 ? clients : 2 ))" \
        -D off="$off" -D nconf="$nconf" "$@" -f "$work/lag_register.sql" "$db" >"$work/pgbench-$tag.out" 2>&1 &
    pb=$!
}
pgbench_result() {   # TAG: sets tps, orders; fails on errors
    local out
    out=$(cat "$work/pgbench-$1.out")
    if grep -q 'failed transactions: [1-9]\|aborted' <<<"$out"; then echo "pgbench failed:" >&2; echo "$out" >&2; exit 1; fi
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out" | awk '{printf "%.1f", $1}')
    orders=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$tps" ] || { echo "no tps in pgbench output: $out" >&2; exit 1; }
}

# Analysis of the samples of TAG (during the load; the first sample, taken
# as the load starts, left out): append rate and the slowest projection's
# rate (events/s, first to last sample), least-squares slopes of the total
# lag (events/s) and of the process manager's pending commands
# (commands/s), mean total lag over the first and the second half of the
# load, and the verdict: "grows" when the second half's mean lag is over
# 1.5 x the first half's + 200 events.
analyse() {
    awk -v tag="$1" '$2 == tag {n++; t[n] = $1; a[n] = $3; p[n] = $5; lag[n] = $3 - $5; c[n] = $8}
        END {
            if (n < 4) { print "n/a n/a n/a n/a n/a n/a n/a"; exit }
            ar = (a[n] - a[2]) / (t[n] - t[2]); pr = (p[n] - p[2]) / (t[n] - t[2])
            for (i = 2; i <= n; i++) { sx += t[i]; sy += lag[i]; sc += c[i]; m++ }
            mx = sx / m; my = sy / m; mc = sc / m
            for (i = 2; i <= n; i++) { sxx += (t[i] - mx)^2; sxy += (t[i] - mx) * (lag[i] - my); sxc += (t[i] - mx) * (c[i] - mc) }
            h = int((m + 1) / 2)
            for (i = 2; i <= n; i++) { if (i - 1 <= h) { f += lag[i]; nf++ } else { g += lag[i]; ng++ } }
            f /= nf; g = (ng ? g / ng : f)
            printf "%.0f %.0f %.0f %.0f %.0f %.0f %s\n", ar, pr, sxy / sxx, sxc / sxx, f, g, ((g > 1.5 * f + 200) ? "grows" : "bounded")
        }' "$samples"
}
last_sample() { awk -v tag="$1" '$2 == tag {l = $0} END {print l}' "$samples"; }
max_lag() { awk -v tag="$1" '$2 == tag && ($3 - $5) > m {m = $3 - $5} $2 == tag && $7 > s {s = $7} END {printf "%d %.3f\n", m, s}' "$samples"; }

arows=() brows=() details=()
# probe_stats PHASE ROUND: percentiles of bench.probes into B[PHASE.kind.*]
probe_stats() {
    local ph=$1 r=$2 stats kind n nvis p50 p90 p99 mx ts50 ts99 k
    stats=$(psql -F ' ' -c "
        SELECT kind, count(*), count(t_visible),
               round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
               round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 1),
               round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
               round(max(ms)::numeric, 1),
               round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ts_ms)::numeric, 1),
               round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ts_ms)::numeric, 1)
          FROM (SELECT kind, t_visible,
                       extract(epoch FROM t_visible - t_commit) * 1000 AS ms,
                       extract(epoch FROM pg_xact_commit_timestamp(row_xmin)
                                        - pg_xact_commit_timestamp((action_xid::text)::xid)) * 1000 AS ts_ms
                  FROM bench.probes) p
         GROUP BY kind ORDER BY kind")
    while read -r kind n nvis p50 p90 p99 mx ts50 ts99; do
        [ "$nvis" -eq "$n" ] || echo "  $((n - nvis)) $kind probes never became visible within 30 s" >&2
        echo "  round $r ($ph) $kind: $n probes, p50 $p50 p90 $p90 p99 $p99 max $mx ms (commit timestamps: p50 $ts50 p99 $ts99 ms)" >&2
        for k in p50 p90 p99 mx ts50 ts99 n; do B[$ph.$kind.$k]="${B[$ph.$kind.$k]:-} ${!k}"; done
    done <<<"$stats"
}

declare -A A B
for r in $(seq 1 "$rounds"); do
    # ---------------------------------------------------------- (a)
    reset_timers >/dev/null
    psql -c "CHECKPOINT"
    sample_once "a$r-before"
    w0=$(cpu_s "$wpid"); t0=$(date +%s.%N)
    run_load $(( (2 * r - 2) * nconf )) "a$r"
    sample_while "$pb" "a$r"
    wait "$pb" || true
    w1=$(cpu_s "$wpid"); t1=$(date +%s.%N)
    wcpu=$(awk -v a="$w0" -v b="$w1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.0f", 100 * (b - a) / (e - s)}')
    pgbench_result "a$r"
    sample_once "a$r-end"
    read -r _ _ appended _ slowest_pos slowest lag_s pend < <(last_sample "a$r-end")
    lag_end=$((appended - slowest_pos))
    read -r arate prate slope cslope lag1 lag2 grows < <(analyse "a$r")
    settle_sampling "a$r-catchup"
    catchup=$settle_s
    [ "$catchup" = timeout ] && maxrate=0 || maxrate=$(awk -v n="$orders" -v d="$duration" -v s="$catchup" 'BEGIN {printf "%.1f", n / (d + s)}')
    echo "  round $r (a): $tps orders/s sent; events appended $arate/s, slowest projection $prate/s; total lag slope $slope events/s, mean $lag1 then $lag2 ($grows); at the end $lag_end events, lag_seconds ${lag_s} ($slowest); PM commands pending $pend (slope $cslope/s); worker CPU $wcpu%; caught up after $catchup s; sustainable $maxrate orders/s" >&2
    for k in tps arate prate slope lag1 lag2 grows lag_end lag_s slowest pend cslope wcpu catchup maxrate; do A[$k]="${A[$k]:-} ${!k}"; done

    # ---------------------------------------------------------- (b)
    if [ -n "$rate" ]; then brate=$rate; else brate=$(awk -v m="$maxrate" 'BEGIN {r = int(m / 2); print (r < 1 ? 1 : r)}'); fi
    reset_timers >/dev/null
    psql -c "CHECKPOINT" -c "TRUNCATE bench.probes"
    w0=$(cpu_s "$wpid"); t0=$(date +%s.%N)
    run_load $(( (2 * r - 1) * nconf )) "b$r" -R "$brate"
    sample_while "$pb" "b$r" &
    sampler=$!
    bgpids="$sampler"
    sleep 1
    psql -c "CALL bench.probe($duration - 2, 20, $((probe_base + 2 * r - 1)), $update_conf)"
    wait "$pb" || true
    wait "$sampler" || true
    bgpids=
    w1=$(cpu_s "$wpid"); t1=$(date +%s.%N)
    wcpu=$(awk -v a="$w0" -v b="$w1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.0f", 100 * (b - a) / (e - s)}')
    pgbench_result "b$r"
    read -r maxlag maxlag_s < <(max_lag "b$r")
    pendmax=$(awk -v tag="b$r" '$2 == tag && $8 > m {m = $8} END {print m + 0}' "$samples")
    echo "  round $r (b): load $tps orders/s (asked $brate); max total lag $maxlag events, max lag_seconds $maxlag_s, max PM commands pending $pendmax; worker CPU $wcpu%" >&2
    probe_stats b "$r"
    settle_sampling "b$r-catchup"
    for k in brate tps maxlag maxlag_s pendmax wcpu; do B[$k]="${B[$k]:-} ${!k}"; done

    # ---------------------------------------------------------- idle
    # The same probe with no load, for reference.
    psql -c "TRUNCATE bench.probes" -c "CALL bench.probe(4, 20, $((probe_base + 2 * r)), $update_conf)"
    probe_stats idle "$r"
    settle_sampling "idle$r-catchup"
done

# ---------------------------------------------------------------- report
med() { echo "${A[$1]}" | median; }
medb() { echo "${B[$1]}" | median; }
count_words() { echo $1 | tr ' ' '\n' | sort | uniq -c | sort -rn | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}'; }
elapsed=$(( $(date +%s) - started ))
pgver=$(psql -c "SHOW server_version")
stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
report() {
    echo "# cqrs_conf projection lag benchmark $stamp ($mode)"
    echo
    echo "Commit $commit; PostgreSQL $pgver; $(machine_line "$load_start")."
    echo "Load: RegisterToConference via cqrs.send, pgbench -M prepared, $clients clients, $nconf conferences per phase"
    echo "(fresh ones each phase), synchronous_commit on, $duration s per phase, $rounds round(s), medians; shared_buffers=$shared_buffers,"
    echo "fsync on, track_commit_timestamp on, background worker connected: $worker; no CPU pinning; between phases: worker settled, $([ "$keep_timers" -eq 1 ] && echo "expiry timers kept" || echo "pending expiry timers deleted"), CHECKPOINT. Wall time ${elapsed} s."
    echo
    echo "(a) Unthrottled load. Events: all appended events (the process manager's included). Total lag = appended (sequenced or not)"
    echo "- the slowest running projection's position. PM commands pending: commands the process manager enqueued that the worker has not handled yet."
    echo
    echo "| orders/s sent | events appended /s | slowest projection applies /s | total lag slope (events/s) | mean lag, 1st / 2nd half of the load (events) | lag | at the end of the load: lag (events) / lag_seconds | slowest projection | PM commands pending at the end | their slope (/s) | worker CPU % | catch-up (s) | sustainable orders/s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    echo "| $(med tps) | $(med arate) | $(med prate) | $(med slope) | $(med lag1) / $(med lag2) | $(count_words "${A[grows]}") | $(med lag_end) / $(med lag_s) | $(count_words "${A[slowest]}") | $(med pend) | $(med cslope) | $(med wcpu) | $(med catchup) | $(med maxrate) |"
    echo
    echo "(b) Load at half the sustainable maximum of (a): asked $(medb brate) orders/s, achieved $(medb tps); max total lag during the load $(medb maxlag) events,"
    echo "max lag_seconds $(medb maxlag_s), max PM commands pending $(medb pendmax); worker CPU $(medb wcpu)%. \"idle\": the same probe, 4 s, no load."
    echo "Probe: action, COMMIT, then poll the read model every 1 ms; latency from after the commit to the first poll that sees the row (ms)."
    echo
    echo "| load | read model | probes per round | p50 | p90 | p99 | max | target p99 50 ms | commit-timestamp cross-check p50 / p99 |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for ph in b idle; do
        for kind in draft_orders conference_view; do
            [ -n "${B[$ph.$kind.p50]:-}" ] || continue
            p99=$(medb "$ph.$kind.p99")
            echo "| $([ $ph = b ] && echo "half of max" || echo none) | $kind | $(medb "$ph.$kind.n") | $(medb "$ph.$kind.p50") | $(medb "$ph.$kind.p90") | **$p99** | $(medb "$ph.$kind.mx") | $([ $ph = b ] && awk -v p="$p99" 'BEGIN {print (p <= 50) ? "met" : "MISSED"}' || echo -) | $(medb "$ph.$kind.ts50") / $(medb "$ph.$kind.ts99") |"
        done
    done
    echo
    echo "Per round:"
    echo
    echo "| figure | per round |"
    echo "|---|---|"
    for k in tps arate prate slope lag1 lag2 grows lag_end lag_s slowest pend cslope wcpu catchup maxrate; do echo "| (a) $k |${A[$k]} |"; done
    for k in brate tps maxlag maxlag_s pendmax wcpu; do echo "| (b) $k |${B[$k]} |"; done
    for ph in b idle; do
        for kind in draft_orders conference_view; do
            for k in n p50 p90 p99 mx ts50 ts99; do echo "| ($ph) $kind $k |${B[$ph.$kind.$k]:-} |"; done
        done
    done
    echo
    echo "Samples (epoch, phase, events appended, sequencer's last position, slowest projection's position and name, max lag_seconds, PM commands pending):"
    echo
    echo '```'
    cat "$samples"
    echo '```'
}
mkdir -p "$here/results"
report | tee "$here/results/projection-lag-$stamp.md" | sed '/^Samples/,$d'
if [ "$(id -u)" -eq 0 ]; then chown -R --reference="$here" "$here/results" 2>/dev/null || true; fi
echo "written to test/bench/results/projection-lag-$stamp.md" >&2
