#!/usr/bin/env bash
# Build the Debian package of the desktop app with the Tauri bundler (offline): the app binary, its
# .desktop entry and icon, and the `patchdesk` CLI beside it in /usr/bin.
#   scripts/deb.sh            release build (about 6 minutes on 2 cores); prints the .deb's path
#   scripts/deb.sh --debug    debug build (reuses the test build: what tests/deb/run.sh uses)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
profile=release; flag=(); cargo_flag=(--release)
if [ "${1:-}" = "--debug" ]; then profile=debug; flag=(--debug); cargo_flag=(); fi
scripts/deps.sh app >&2
(cd ui && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run -s build) >&2
echo "deb: building the CLI ($profile)" >&2
cargo build -q --locked -p patchdesk-cli "${cargo_flag[@]}" >&2
mkdir -p target/bundle-extra
install -m 0755 "target/$profile/patchdesk" target/bundle-extra/patchdesk
echo "deb: building the app and bundling it ($profile)" >&2
ui/node_modules/.bin/tauri build "${flag[@]}" --bundles deb --ci >&2
ls -t "target/$profile/bundle/deb/"*.deb | head -1
