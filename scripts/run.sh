#!/usr/bin/env bash
# Install what is missing, build, and run PatchDesk.
#   scripts/run.sh            the app on your inventory (~/.local/share/patchdesk/patchdesk.db)
#   scripts/run.sh --demo     the same on a throw-away local fleet of 6 real hosts (needs root:
#                             it starts sshd hosts on 127.77.0.x), already imported and trusted
#   scripts/run.sh --cli ARGS the headless CLI instead of the app (e.g. --cli host list)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
demo=false; cli=false
while [ $# -gt 0 ]; do
  case $1 in
    --demo) demo=true; shift ;;
    --cli) cli=true; shift; break ;;
    *) echo "usage: scripts/run.sh [--demo] [--cli ARGS...]" >&2; exit 2 ;;
  esac
done

say() { echo "run: $*" >&2; }
say "checking the system packages PatchDesk needs (installs only what is missing)"
if $demo; then scripts/deps.sh test; else scripts/deps.sh run; fi
say "building the CLI (release; the first build compiles every dependency: several minutes, progress below)"
cargo build --release -p patchdesk-cli --locked
bin="$(pwd)/target/release/patchdesk"

if $demo; then
  export PATCHDESK_DB=${PATCHDESK_DB:-/var/tmp/patchdesk-demo.db}
  say "demo: starting a local fleet of 6 real hosts (the first time builds their base images: minutes)"
  tests/fleet/fleet.sh up 6
  fleet=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
  say "demo: importing the fleet into $PATCHDESK_DB and trusting its known_hosts"
  "$bin" host import "$fleet/hosts.csv" --update
  "$bin" settings --known-hosts "$fleet/known_hosts" >/dev/null
  say "demo: scanning the fleet (pd-06 is down on purpose)"
  "$bin" scan --all || true
  # The fixture advisory feeds, so Patches, the Dashboard and Reports have severities and deadlines.
  for f in osv-debian.json debian-tracker.json nvd.json; do
    say "demo: syncing the advisory feed $f"
    "$bin" advisories sync --from "$(pwd)/tests/fixtures/advisories/$f" >/dev/null
  done
fi

if $cli; then exec "$bin" "$@"; fi
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  # No screen (e.g. over SSH): show the fleet from the CLI instead of the window.
  "$bin" host list
  echo "no display: the desktop app needs one. The CLI works: $bin --help"
  exit 0
fi
exec scripts/app.sh
