#!/bin/bash
# The main job: a demo of cqrs_conf on a throwaway cluster.  Installs what
# is missing, builds and installs the extension, starts a private cluster
# with the library preloaded and the background worker on, runs the demo
# scripts in demo/ (printing what happens), then removes the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH=/usr/lib/postgresql/15/bin:$PATH

scripts/deps.sh
scripts/build.sh

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

dir=$(mktemp -d /tmp/cqrs-demo.XXXXXX)
chown postgres "$dir" 2>/dev/null || true
chmod 755 "$dir"
port=$(( 20000 + RANDOM % 20000 ))
cleanup() {
    as_pg pg_ctl -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

echo "== starting a throwaway cluster in $dir (port $port)"
as_pg initdb -D "$dir/data" -A trust >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = 'postgres'
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
CONF
as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
as_pg psql -h "$dir" -p "$port" -d postgres -qXc "CREATE EXTENSION cqrs_conf"

for script in "$root"/demo/[0-9]*.sql; do
    echo
    echo "== $(basename "$script")"
    as_pg psql -h "$dir" -p "$port" -d postgres -X -v ON_ERROR_STOP=1 \
        --echo-queries -f "$script"
done

echo
echo "== worker log lines"
grep -E 'cqrs_conf' "$dir/server.log" || true
echo "== demo finished; the cluster is removed"
