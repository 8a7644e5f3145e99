#!/usr/bin/env bash
# System packages the test suite uses (real Prometheus and promtool for the scrape and rule
# tests, amtool for the Alertmanager config, systemd-analyze for the unit, Debian's Chromium and
# ChromeDriver for the console's browser test). Installs only what is missing, so it is cheap on a machine that has them.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)   # Debian ships promtool in the same package
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)   # amtool ships with it
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if ((${#need[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing system packages: ${need[*]} (run this script as root to install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
