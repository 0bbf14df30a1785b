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

if $demo; then scripts/deps.sh test; else scripts/deps.sh run; fi
cargo build --release -q -p patchdesk-cli
bin="$(pwd)/target/release/patchdesk"

if $demo; then
  export PATCHDESK_DB=${PATCHDESK_DB:-/var/tmp/patchdesk-demo.db}
  tests/fleet/fleet.sh up 6
  fleet=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
  "$bin" host import "$fleet/hosts.csv" --update
  "$bin" settings --known-hosts "$fleet/known_hosts" >/dev/null
  echo "demo: inventory $PATCHDESK_DB; scanning the fleet (pd-06 is down on purpose)"
  "$bin" scan --all || true
fi

if $cli; then exec "$bin" "$@"; fi
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  # No screen (e.g. over SSH): show the fleet from the CLI instead of the window.
  "$bin" host list
  echo "no display: the desktop app needs one. The CLI works: $bin --help"
  exit 0
fi
exec scripts/app.sh
