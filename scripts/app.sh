#!/usr/bin/env bash
# Build and open the PatchDesk desktop app (installs Tauri's system packages and the UI's npm
# packages if missing). PATCHDESK_DB chooses the database (default: the platform data directory).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
say() { echo "app: $*" >&2; }
say "checking the system packages the desktop app needs"
scripts/deps.sh run
say "building the window's UI (npm: installs its packages the first time)"
(cd ui && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run -s build)
say "building the desktop app (the first build compiles every dependency: several minutes, progress below)"
cargo build -p patchdesk-app --locked
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "app: no display (DISPLAY/WAYLAND_DISPLAY unset); for a headless try: Xvfb :99 & DISPLAY=:99 scripts/app.sh" >&2
  exit 1
fi
say "starting PatchDesk"
exec target/debug/patchdesk-app
