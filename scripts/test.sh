#!/bin/bash
# Runs every cqrs_conf test suite on private clusters, as the postgres user
# (PostgreSQL refuses to run as root), and ends with "N passed, N failed".
#
#   scripts/test.sh            all suites
#   scripts/test.sh regress    one of: regress isolation tap pgtap
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export PATH=/usr/lib/postgresql/15/bin:$PATH

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(regress isolation tap pgtap)

scripts/deps.sh
scripts/build.sh || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

# pg_regress and prove write next to the sources.
if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$root"
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

passed=0
failed=0
logdir=$root/test/log
as_pg mkdir -p "$logdir"

count_pg_regress() {
    # pg_regress prints one line per test: "test NAME ... ok" / "... FAILED"
    local log=$1 ok bad
    ok=$(grep -cE '^(test| ) *[a-z0-9_]+ +\.\.\. ok' "$log" || true)
    bad=$(grep -cE '\.\.\. FAILED' "$log" || true)
    passed=$((passed + ok)); failed=$((failed + bad))
    echo "$2: $ok passed, $bad failed"
}

show_failure() {
    for f in "$@"; do
        [ -f "$f" ] && { echo "----- $f"; head -c 20000 "$f"; }
    done
}

for suite in "${suites[@]}"; do
    case $suite in
    regress)
        as_pg make -s regresscheck >"$logdir/regress.log" 2>&1
        rc=$?
        cat "$logdir/regress.log"
        count_pg_regress "$logdir/regress.log" regress
        if [ $rc -ne 0 ]; then
            grep -q '\.\.\. FAILED' "$logdir/regress.log" || failed=$((failed + 1))
            show_failure regression.diffs tmp_check_regress/log/postmaster.log
        fi
        ;;
    isolation)
        as_pg make -s isolationcheck >"$logdir/isolation.log" 2>&1
        rc=$?
        cat "$logdir/isolation.log"
        count_pg_regress "$logdir/isolation.log" isolation
        if [ $rc -ne 0 ]; then
            grep -q '\.\.\. FAILED' "$logdir/isolation.log" || failed=$((failed + 1))
            show_failure output_iso/regression.diffs tmp_check_iso/log/postmaster.log
        fi
        ;;
    tap)
        ls test/t/*.pl >/dev/null 2>&1 || continue
        as_pg make -s tapcheck PROVE_FLAGS=--timer >"$logdir/tap.log" 2>&1
        rc=$?
        cat "$logdir/tap.log"
        ok=$(grep -cE '^\[?[0-9:]*\]? ?test/t/.*\.pl \.+ ok' "$logdir/tap.log" || true)
        bad=$(grep -cE '^\[?[0-9:]*\]? ?test/t/.*\.pl \.+ .*(Failed|Dubious|not ok)' "$logdir/tap.log" || true)
        [ $rc -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
        passed=$((passed + ok)); failed=$((failed + bad))
        echo "tap: $ok passed, $bad failed"
        [ $rc -ne 0 ] && show_failure tmp_check/log/*
        ;;
    pgtap)
        ls test/pgtap/*.sql >/dev/null 2>&1 || continue
        as_pg test/pgtap/run.sh >"$logdir/pgtap.log" 2>&1
        rc=$?
        cat "$logdir/pgtap.log"
        ok=$(grep -cE '^test/pgtap/.*\.sql \.+ ok' "$logdir/pgtap.log" || true)
        bad=$(grep -cE '^test/pgtap/.*\.sql \.+ .*(Failed|Dubious|not ok)' "$logdir/pgtap.log" || true)
        [ $rc -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
        passed=$((passed + ok)); failed=$((failed + bad))
        echo "pgtap: $ok passed, $bad failed"
        ;;
    *)
        echo "unknown suite: $suite" >&2
        failed=$((failed + 1))
        ;;
    esac
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
