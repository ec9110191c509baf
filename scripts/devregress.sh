#!/bin/bash
# Runs chosen pg_regress tests against a development cluster made by
# scripts/devcluster.sh (fast iteration; the full suite is scripts/test.sh).
#   scripts/devregress.sh NAME PORT TEST...
# Results land in /tmp/cqrs-dev-NAME/out (results/*.out, regression.diffs).
set -uo pipefail
name=$1 port=$2; shift 2
cd "$(dirname "$0")/.."
dir=/tmp/cqrs-dev-$name
mkdir -p "$dir/out"; chown -R postgres "$dir/out" 2>/dev/null || true
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg /usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
    --bindir=/usr/lib/postgresql/15/bin --host="$dir" --port="$port" \
    --inputdir=. --outputdir="$dir/out" --dbname="${name}_regress" \
    --load-extension=cqrs_conf "$@"
