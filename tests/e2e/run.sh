#!/usr/bin/env bash
# End-to-end tests of the desktop app in a real window: installs what it needs (WebKitGTK,
# WebKitWebDriver, Xvfb, D-Bus, python3-dbusmock, tauri-driver), builds the UI and the app, starts
# the fleet, and drives the app with tests/e2e/e2e.mjs. Screenshots go to tests/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"

scripts/deps.sh app

if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "e2e: installing tauri-driver"
  # Not linted: scripts/test.sh's clippy wrapper is for this workspace only.
  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS cargo install tauri-driver --locked -q
fi

(cd ui && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run -s build)
cargo build -q -p patchdesk-app -p patchdesk-cli --locked
app="$root/target/debug/patchdesk-app"
export PATCHDESK_CLI="$root/target/debug/patchdesk"

export FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
# tauri-driver listens here (its native WebKitWebDriver on the next port).
export E2E_PORT=${E2E_PORT:-4444}
export WD_URL="http://127.0.0.1:$E2E_PORT"
export PATCHDESK_FLEET="$FLEET_DIR/fleet.json"
# Pristine hosts (about 10 s): what an earlier run left behind (an update its automation
# deployed, a version published) must not decide this one.
tests/fleet/fleet.sh reset >/dev/null
tests/fleet/fleet.sh up 6 >/dev/null

work=$(mktemp -d)
# A folder for what the e2e exports (the Ansible playbook), removed afterwards.
export E2E_OUT=$(mktemp -d)
# The app's clock is injected: deadlines and countdowns are checked at a fixed instant.
export PATCHDESK_NOW=2026-11-24T12:00:00Z
# ... read from a file the test can rewrite while the app runs (it overrides PATCHDESK_NOW), and
# the app's job runner looks at what is due every second.
export PATCHDESK_CLOCK_FILE="$work/clock" PATCHDESK_TICK_SECS=1
echo "$PATCHDESK_NOW" >"$PATCHDESK_CLOCK_FILE"
# "Start at login" writes its autostart entry here, not into the machine's real profile.
export XDG_CONFIG_HOME="$work/config"
# GTK's file chooser records recent files here, not in the machine's real profile.
export XDG_DATA_HOME="$work/data"
export PATCHDESK_APP="$app" PATCHDESK_DB="$work/e2e.db" NOTIFY_LOG="$work/notify.log" ARTIFACTS="$root/tests/artifacts"
# Links to CVE trackers: no browser here; the app writes the URL it would open to this file.
export PATCHDESK_OPEN_LOG="$work/opened.log"
# Debug builds only: the first get_policy call panics, so the e2e sees a panic become an error reply.
export PATCHDESK_TEST_PANIC_ONCE=get_policy
rm -rf "$ARTIFACTS"; mkdir -p "$ARTIFACTS"

# Derived from E2E_PORT, so runs side by side with their own ports get their own displays.
display=":$((100 + E2E_PORT % 1000))"
Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb=$!
cleanup() { kill "$xvfb" 2>/dev/null || true; rm -rf "$work" "$E2E_OUT"; }
trap cleanup EXIT
export DISPLAY="$display"
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done

# Everything that speaks D-Bus runs inside one private session bus.
dbus-run-session -- bash -c '
  set -euo pipefail
  /usr/bin/python3 -m dbusmock --session --template notification_daemon -l "$NOTIFY_LOG" >/dev/null 2>&1 &
  mock=$!
  for _ in $(seq 100); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null | grep -q "boolean true" && break
    sleep 0.1
  done
  tauri-driver --port "$E2E_PORT" --native-port "$((E2E_PORT + 1))" >"$ARTIFACTS/tauri-driver.log" 2>&1 &
  driver=$!
  # tauri-driver listens before its WebKitWebDriver does: wait for both (e2e.mjs also retries).
  for port in "$E2E_PORT" "$((E2E_PORT + 1))"; do
    for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  done
  rc=0
  node tests/e2e/e2e.mjs || rc=$?
  if [ "$rc" != 0 ]; then
    # (One panic there is expected: the one PATCHDESK_TEST_PANIC_ONCE injects.)
    echo "e2e: failed; from $ARTIFACTS/tauri-driver.log (the app'"'"'s stderr), its panics and last lines:"
    grep -A1 "panicked at" "$ARTIFACTS/tauri-driver.log" || true; tail -n 15 "$ARTIFACTS/tauri-driver.log"
  fi
  kill $driver $mock 2>/dev/null || true
  exit $rc
'
