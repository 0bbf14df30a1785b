#!/usr/bin/env bash
# The one command that runs every PatchDesk test on a fresh Debian/Ubuntu machine (as root, or a
# user with sudo): installs what is missing, checks formatting and lints, builds the real test
# fleet (sshd + dpkg/apt hosts on loopback), runs the unit and integration tests against it, and
# tears the fleet down. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start ))s)"; }

step "dependencies"
scripts/deps.sh test

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --all-targets --locked

step "test fleet"
export FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
export PATCHDESK_FLEET="$FLEET_DIR/fleet.json"
tests/fleet/fleet.sh up 6
trap 'tests/fleet/fleet.sh down || true' EXIT

step "unit and integration tests"
cargo test --workspace --locked --no-fail-fast

step "done in $(( $(date +%s) - start ))s"
