#!/bin/bash
# The main job: a demo of cqrs_conf on a throwaway cluster.  Installs what
# is missing, builds and installs the extension, starts a private cluster
# with the library preloaded and the background worker on, then:
#
#   1. walks through the event store (demo/10_event_store.sql);
#   2. creates and publishes a conference with a paid and a free seat type
#      (demo/20_conference.sql);
#   3. lets many registrants race for the seats at once: pgbench runs
#      demo/30_registrant.pgbench, one registrant's whole visit per
#      transaction (order, wait for the worker's reservation, pay or confirm
#      a free order, name the attendees; some walk away), with a progress
#      line every second;
#   4. moves the clock 30 minutes forward so the reservation timers fire and
#      the abandoned orders expire (demo/40_expiry.sql);
#   5. shows the read models (demo/50_read_models.sql);
#   6. verifies every projection against a rebuild from the log and checks
#      the numbers (demo/60_verify.sql): any difference makes this script
#      exit non-zero.
#
# The cluster is removed at the end.  docs/demo.md explains what it shows.
#
#   scripts/demo.sh                  (as root, or as a user who can run the cluster)
#   DEMO_CLIENTS=10 DEMO_VISITS=50 scripts/demo.sh   # clients, visits per client
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# Run under flock(1), this script inherits the lock's file descriptor, and
# so would the cluster's postmaster, which pg_ctl detaches: if this script
# were killed, the orphaned cluster would hold the shared lock for good.
# flock itself holds the lock until this script ends, so close every
# inherited descriptor above 2.
for fd in $(ls /proc/$$/fd); do
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
done
export PATH=/usr/lib/postgresql/15/bin:$PATH

clients=${DEMO_CLIENTS:-10}
visits=${DEMO_VISITS:-50}
registrants=$(( clients * visits ))
demo_start=$(date +%s)

scripts/deps.sh
scripts/build.sh

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

dir=$(mktemp -d /tmp/cqrs-demo.XXXXXX)
chown postgres "$dir" 2>/dev/null || true
chmod 755 "$dir"
port=$(( 20000 + RANDOM % 20000 ))
bench_pid=
cleanup() {
    local rc=$?
    if [ -n "$bench_pid" ]; then kill "$bench_pid" 2>/dev/null || true; fi
    if [ "$rc" -ne 0 ]; then
        echo
        echo "!! demo FAILED (exit status $rc); last server log lines:"
        tail -n 15 "$dir/server.log" 2>/dev/null || true
    fi
    as_pg pg_ctl -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT

psql_() { as_pg psql -h "$dir" -p "$port" -d postgres -X -v ON_ERROR_STOP=1 "$@"; }
query() { psql_ -Atqc "$1"; }
since() { echo $(( $(date +%s) - $1 )); }
heading() { echo; echo "== [$(since "$demo_start")s] $*"; }

heading "starting a throwaway cluster in $dir (port $port), background worker on"
as_pg initdb -D "$dir/data" -A trust >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = 'postgres'
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = $(( clients + 20 ))
CONF
as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
query "CREATE EXTENSION cqrs_conf"
# the demo needs the background worker: wait for it to be connected
worker_pid=
for _ in $(seq 50); do
    worker_pid=$(query 'SELECT cqrs.worker_pid()')
    [ -n "$worker_pid" ] && break
    sleep 0.2
done
if [ -z "$worker_pid" ]; then
    echo "!! the cqrs_conf background worker is not running"
    exit 1
fi
echo "background worker: pid $worker_pid"

heading "1. the event store (demo/10_event_store.sql)"
psql_ --echo-queries -f demo/10_event_store.sql

psql_ -q -f demo/helpers.sql

heading "2. the business customer publishes a conference (demo/20_conference.sql)"
psql_ --echo-queries -v registrants="$registrants" -f demo/20_conference.sql

heading "3. registration opens: $registrants registrants, $clients at a time (pgbench, demo/30_registrant.pgbench)"
cat <<'TEXT'
Each pgbench transaction is one registrant's visit, one SQL transaction per step:
  RegisterToConference -> (worker: process manager reserves seats) -> wait, read the draft order
  -> sold out: leave | every 8th: walk away with the seats
  -> AssignRegistrantDetails -> InitiateThirdPartyProcessorPayment -> CompleteThirdPartyProcessorPayment
     (every 16th card is declined: CancelThirdPartyProcessorPayment, leave)
     or, for a zero-cost order, ConfirmOrder
  -> (worker: ConfirmOrder, CommitSeatReservation, CreateSeatAssignments) -> wait -> AssignSeat per seat
The registrants wait for the worker by polling the read models, then cqrs.wait_for_projections();
nobody calls cqrs.drain().  Each second, from the read models and the log: orders placed, waiting
for their reservation, and what it gave them (all the seats asked for, some, none); orders confirmed
and expired; completed payments; seats named; seats left of the quota; the largest projection lag in
events (cqrs.projection_status); the average OrderPlaced -> reservation answer time of the orders
answered in the last second (ms); commands waiting for the worker.
TEXT
race_start=$(date +%s)
as_pg pgbench -n -h "$dir" -p "$port" -c "$clients" -j 2 -t "$visits" \
    -f "$root/demo/30_registrant.pgbench" postgres >"$dir/pgbench.log" 2>&1 &
bench_pid=$!
query "SELECT demo.progress_header()"
while kill -0 "$bench_pid" 2>/dev/null; do
    query "SELECT demo.progress_line('$(since "$race_start")s')"
    sleep 1
done
bench_rc=0
wait "$bench_pid" || bench_rc=$?
bench_pid=
if [ "$bench_rc" -ne 0 ] || grep -q 'aborted' "$dir/pgbench.log"; then
    echo "!! pgbench failed (exit status $bench_rc):"
    cat "$dir/pgbench.log"
    exit 1
fi
# the worker finishes what the last registrants started
settle_start=$(date +%s)
until [ "$(query 'SELECT demo.worker_idle()')" = t ]; do
    if [ "$(since "$settle_start")" -gt 120 ]; then
        echo "!! the worker did not become idle within 120 s"
        exit 1
    fi
    query "SELECT demo.progress_line('$(since "$race_start")s')"
    sleep 1
done
query "SELECT demo.progress_line('$(since "$race_start")s')"
echo "pgbench: $(grep -E '^number of transactions actually processed' "$dir/pgbench.log" | sed 's/.*: //') visits," \
     "$(grep -E '^latency average' "$dir/pgbench.log" | sed 's/latency average = //') per visit on average," \
     "$(grep -E '^tps' "$dir/pgbench.log" | sed -E 's/tps = ([0-9.]+).*/\1/') visits/s"

heading "4. half an hour later: the reservation timers fire (demo/40_expiry.sql)"
psql_ --echo-queries -f demo/40_expiry.sql

heading "5. the read models (demo/50_read_models.sql)"
psql_ --echo-queries -f demo/50_read_models.sql

heading "6. verification (demo/60_verify.sql)"
psql_ -v worker_pid="$worker_pid" -f demo/60_verify.sql

heading "server log: the worker's lines, warnings and errors"
grep -E 'cqrs_conf|WARNING|ERROR|FATAL|PANIC' "$dir/server.log" | head -n 20 || true

echo; echo "== demo finished in $(since "$demo_start") s (race $(( settle_start - race_start )) s); the cluster is removed"
