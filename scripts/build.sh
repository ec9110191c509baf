#!/bin/bash
# Builds cqrs_conf with warnings as errors and installs it into the local
# PostgreSQL 15.  Needs root for the install step.
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
make -s WERROR=1
make -s install >/dev/null
