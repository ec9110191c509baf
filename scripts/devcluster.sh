#!/bin/bash
# A private development cluster with cqrs_conf preloaded.
#   scripts/devcluster.sh NAME PORT [start|restart|stop|psql ARGS...]
# Data and socket live in /tmp/cqrs-dev-NAME; database NAME is created with
# the extension installed, and the background worker is connected to it.
set -euo pipefail
name=$1 port=$2 action=${3:-start}
shift 3 2>/dev/null || shift $#
bin=/usr/lib/postgresql/15/bin
dir=/tmp/cqrs-dev-$name
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case $action in
start)
    if [ ! -d "$dir/data" ]; then
        mkdir -p "$dir"; chown postgres "$dir" 2>/dev/null || true
        as_pg "$bin/initdb" -D "$dir/data" -A trust >/dev/null
        cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = '$name'
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
max_prepared_transactions = 4
CONF
        as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
        as_pg "$bin/createdb" -h "$dir" -p "$port" "$name"
        as_pg "$bin/psql" -h "$dir" -p "$port" -d "$name" -qXc "CREATE EXTENSION cqrs_conf"
    else
        as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null || true
    fi
    ;;
restart)
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w restart >/dev/null ;;
stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -w stop >/dev/null ;;
psql)
    as_pg "$bin/psql" -h "$dir" -p "$port" -d "$name" -X "$@" ;;
*)
    echo "unknown action $action" >&2; exit 2 ;;
esac
