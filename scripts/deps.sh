#!/bin/bash
# Installs what a fresh Debian 12 machine lacks to build and test cqrs_conf.
# Needs root; does nothing when everything is already there.
set -euo pipefail

packages=(build-essential postgresql-15 postgresql-server-dev-15
          postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
          libipc-run-perl python3-psycopg util-linux)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
