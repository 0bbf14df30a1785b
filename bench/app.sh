#!/usr/bin/env bash
# The app with the whole test fleet in its database (issue #16; 1,000 hosts after
# `tests/fleet/fleet.sh up 1000`), in its real window: first paint, filter/sort latency, resident
# memory (bench/app.mjs through tauri-driver, the e2e's setup: Xvfb, a D-Bus session, WebKit's
# driver), and the CLI's peak memory for the scan that fills the database (/usr/bin/time -v).
#
#   bench/app.sh        E2E_PORT (tauri-driver's port; the X display follows it), FLEET_DIR
#                       PATCHDESK_BIN (default target/release/patchdesk), PATCHDESK_APP (default
#                       target/debug/patchdesk-app, built here with the UI as tests/e2e/run.sh does)
#
# Writes bench/results/app-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
E2E_PORT=${E2E_PORT:-4444}
die() { echo "bench: error: $*" >&2; exit 1; }
if [ -z "${PATCHDESK_APP:-}" ]; then
  (cd ui && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run -s build)
  cargo build -q -p patchdesk-app --locked
  PATCHDESK_APP="$root/target/debug/patchdesk-app"
fi
if [ -z "${PATCHDESK_BIN:-}" ]; then
  cargo build --release -q --locked -p patchdesk-cli
  PATCHDESK_BIN="$root/target/release/patchdesk"
fi
command -v tauri-driver >/dev/null || die "no tauri-driver (tests/e2e/run.sh installs it)"

work=$(mktemp -d /tmp/pd-app.XXXXXX)
out="bench/results/app-$(date +%Y%m%d-%H%M).txt"
mkdir -p bench/results
export PATCHDESK_DB="$work/app.db" XDG_CONFIG_HOME="$work/config"
hosts=$(($(wc -l <"$FLEET_DIR/hosts.csv") - 1))
last=$(tail -n1 "$FLEET_DIR/hosts.csv" | cut -d, -f1)
{
  echo "# bench/app.sh — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $hosts hosts in the database"
  echo "# app $PATCHDESK_APP; CLI $PATCHDESK_BIN; load before: $(uptime | sed 's/.*load average: //')"
} | tee "$out"

# Fill the database: every fleet host imported and scanned (the down host pd-06 stays unreachable).
"$PATCHDESK_BIN" host import "$FLEET_DIR/hosts.csv" >/dev/null
"$PATCHDESK_BIN" settings --known-hosts "$FLEET_DIR/known_hosts" >/dev/null
/usr/bin/time -v -o "$work/time" "$PATCHDESK_BIN" scan --all --json >"$work/scan.json" 2>"$work/scan.err" || true
python3 - "$work/scan.json" "$FLEET_DIR/fleet.json" <<'EOF' || die "the scan that fills the database failed"
import json, sys
s, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
running = {h["name"] for h in m["hosts"] if h["running"]}
ok = {h["host"] for h in s["hosts"] if h["ok"]}
if ok != running:
    sys.exit(f"scanned ok: {len(ok)}, running: {len(running)}; differ: {sorted(ok ^ running)[:5]}")
EOF
{
  printf 'CLI scan of %s hosts (%s ok): ' "$hosts" "$(grep -c '"ok": true' "$work/scan.json" || true)"
  awk -F': ' '/Elapsed \(wall/ { w = $2 } /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { m = $2 }
    END { printf "%s wall, %.1f s cpu, peak RSS %.0f MB  (/usr/bin/time -v patchdesk scan --all)\n", w, u + s, m / 1024 }' "$work/time"
} | tee -a "$out"

display=":$((100 + E2E_PORT % 1000))"
Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb=$!
cleanup() { kill "$xvfb" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export DISPLAY="$display"
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
export PATCHDESK_APP WD_URL="http://127.0.0.1:$E2E_PORT" BENCH_HOSTS="$hosts" BENCH_LAST_HOST="$last" BENCH_OUT="$work/app.txt" E2E_PORT
dbus-run-session -- bash -c '
  set -euo pipefail
  tauri-driver --port "$E2E_PORT" --native-port "$((E2E_PORT + 1))" >"'"$work"'/tauri-driver.log" 2>&1 &
  driver=$!
  # tauri-driver listens before its WebKitWebDriver does: wait for both (app.mjs also retries).
  for port in "$E2E_PORT" "$((E2E_PORT + 1))"; do
    for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  done
  rc=0
  node bench/app.mjs || rc=$?
  kill $driver 2>/dev/null || true
  exit $rc
' || die "bench/app.mjs failed"
cat "$work/app.txt" >>"$out"
echo "# load after: $(uptime | sed 's/.*load average: //')" | tee -a "$out"
echo "bench: wrote $out"
