#!/usr/bin/env bash
# Debian packages the tests and benchmarks use: installed when missing and we are root; otherwise
# the missing ones are named so the user can install them.
set -euo pipefail

declare -A wanted=(
  [pg_ctl]=postgresql      # the local stack's database (also found under /usr/lib/postgresql)
  [kcat]=kcat              # an outside Kafka client for the round-trip check
  [chromium]=chromium      # the web UI's browser tests
  [nginx]=nginx            # the fast HTTP sink of the benchmarks
  [wrk]=wrk                # the HTTP load ceiling of the benchmarks
  [promtool]=prometheus    # checks /metrics output and alert rules
  [docker-compose]=docker-compose  # validates deploy/compose.yaml (no engine needed)
)
have() { command -v "$1" >/dev/null 2>&1 || { [ "$1" = pg_ctl ] && ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; }; }

missing=()
for tool in "${!wanted[@]}"; do have "$tool" || missing+=("${wanted[$tool]}"); done
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# nginx and prometheus must not keep running as system services: the benchmarks start their own.
for service in nginx prometheus; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$service" >/dev/null 2>&1 || true; fi
  pkill -x "$service" >/dev/null 2>&1 || true
done
