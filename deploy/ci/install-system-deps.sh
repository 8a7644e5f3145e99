#!/usr/bin/env bash
# System packages the test suite uses (real Prometheus and promtool for the scrape and rule
# tests). Installs only what is missing, so it is cheap on a machine that already has them.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)   # Debian ships promtool in the same package
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if ((${#need[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing system packages: ${need[*]} (run this script as root to install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
