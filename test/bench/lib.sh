# Shared by commands.sh and projection_lag.sh (sourced, not run): a
# throwaway cluster in /tmp run as the postgres user, with
# shared_preload_libraries = 'cqrs_conf' and cqrs_conf.database set so the
# background worker runs as in production; psql / pgbench wrappers; CPU
# placement for 1-client runs; medians.  The conventions are run.sh's
# (see docs/performance.md, "Method").
#
# The caller sets: here (test/bench), keep (0/1), pin (0/1), and may set
# extra_conf (lines appended to postgresql.conf) and worker_database (the
# database the background worker connects to; default the benchmark's, ''
# for no worker) before start_cluster.

bin=/usr/lib/postgresql/15/bin

# A failing command ends the run (set -e in the callers): say which.
set -E
trap 'echo "$(basename "$0"): line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR
db=bench
shared_buffers=512MB

if [ "$(id -u)" -eq 0 ]; then
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

cleanup() {
    [ -n "${bgpids:-}" ] && kill $bgpids 2>/dev/null || true
    as_pg "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    if [ "$keep" -eq 1 ]; then
        echo "cluster left in $work" >&2
    else
        rm -rf "$work"
    fi
}

start_cluster() {
    work=$(mktemp -d "/tmp/cqrs-$1.XXXXXX")
    chmod 755 "$work"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$work"
    data=$work/data
    port=$((50000 + RANDOM % 10000))
    while [ -e "$work/.s.PGSQL.$port" ] || (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do
        port=$((port + 1))
    done
    trap cleanup EXIT
    as_pg "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null
    cat >>"$data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = '${worker_database-$db}'
shared_buffers = $shared_buffers
max_wal_size = 8GB
checkpoint_timeout = 30min
max_connections = 50
log_autovacuum_min_duration = 0
${extra_conf:-}
CONF
    if ! as_pg "$bin/pg_ctl" -D "$data" -l "$work/server.log" -w start >/dev/null; then
        tail -20 "$work/server.log" >&2
        exit 1
    fi
    as_pg "$bin/createdb" -h "$work" -p "$port" -U postgres "$db"
}

psql() { as_pg "$bin/psql" -h "$work" -p "$port" -U postgres -d "$db" -qAtX -v ON_ERROR_STOP=1 "$@"; }

# Wait until the background worker is connected to the benchmark database.
wait_worker() {
    local i
    for i in $(seq 1 100); do
        [ "$(psql -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'")" -gt 0 ] && break
        sleep 0.1
    done
    worker=$(psql -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'")
}

# Nothing left for the worker: every committed event sequenced, every
# running projection (the process manager is one) at the sequencer's last
# position, no command waiting that is due now (the process manager's
# expiry timers are due 29 minutes later and do not count).
settled() {
    [ "$(psql -c "SELECT NOT EXISTS (SELECT 1 FROM cqrs.commands WHERE status = 'pending' AND (due_at IS NULL OR due_at <= now()))
                  AND (SELECT unsequenced_events = 0 FROM cqrs.sequencer_status)
                  AND NOT EXISTS (SELECT 1 FROM cqrs.projection_status WHERE state = 'running' AND lag_events > 0)")" = t ]
}
# wait_settled TIMEOUT_S: wait for the worker (not cqrs.drain(): the point
# is to see how long the worker takes); sets settle_s, the seconds waited,
# or "timeout".
wait_settled() {
    local t0 now
    t0=$(date +%s.%N)
    until settled; do
        sleep 0.1
        now=$(date +%s.%N)
        if awk -v a="$now" -v b="$t0" -v t="$1" 'BEGIN {exit !(a - b > t)}'; then
            settle_s=timeout
            return 0
        fi
    done
    settle_s=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')
}

# ---------------------------------------------------------------- placement
# As run.sh: 1-client runs pin pgbench and its backend to CPU 0, the
# postmaster and everything it forks (worker, WAL writer, autovacuum ...)
# to CPU 1; runs with more clients let every process use every CPU.
ncpu=$(nproc)
pinned=0
place() {
    local p cpus=1 postmaster
    pinned=0
    [ "$pin" -eq 1 ] && [ "$ncpu" -ge 2 ] || return 0
    postmaster=$(head -1 "$data/postmaster.pid")
    if [ "$1" -eq 1 ]; then pinned=1; else cpus="0-$((ncpu - 1))"; fi
    taskset -p -c "$cpus" "$postmaster" >/dev/null
    for p in $(pgrep -P "$postmaster"); do taskset -p -c "$cpus" "$p" >/dev/null 2>&1 || true; done
}
pin_client_backend() {
    local be= i
    for i in $(seq 1 40); do
        be=$(psql -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
        [ -n "$be" ] && break
        sleep 0.05
    done
    [ -n "$be" ] && taskset -p -c 0 "$be" >/dev/null 2>&1 || true
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# CPU seconds (user + system) a process has used, from /proc.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }

machine_line() {
    local cpu mem
    cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
    mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
    echo "$(nproc) CPUs ($cpu), $mem; load average at start: $1"
}

# The registration process manager enqueues an ExpireRegistrationProcess
# timer per order, due 29 minutes later (6 hours with the benchmarks'
# cqrs_conf.pm_expiration_buffer).  They pile up over a benchmark's many
# runs, and the worker's claim of due commands walks every pending one at
# each step (a generic plan of "due_at IS NULL OR due_at <= $1 ORDER BY
# due_at NULLS FIRST, seq LIMIT n": an index scan with a filter), so later
# runs would pay for earlier ones.  The runners delete them between runs
# (never during one) unless --keep-timers.
reset_timers() {
    [ "${keep_timers:-0}" -eq 1 ] && return 0
    psql -c "DELETE FROM cqrs.commands WHERE status = 'pending' AND command_type = 'ExpireRegistrationProcess'" \
         -c "VACUUM cqrs.commands"
}
