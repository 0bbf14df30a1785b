#!/usr/bin/env bash
# The one command that runs every PatchDesk test on a fresh Debian/Ubuntu machine (as root, or a
# user with sudo): installs what is missing, checks formatting and lints, builds the real test
# fleet (sshd + dpkg/apt hosts and rpm/dnf hosts on loopback), runs the unit and integration tests
# against it, the UI's unit tests, and the end-to-end tests of the app in a real window.
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start ))s)"; }
# Disk is short on CI machines (a run has failed with "No space left on device" while linking the
# test binaries): no incremental caches, and one build of the workspace serves the lints and the
# tests — clippy-driver is the workspace's rustc wrapper for the whole run, as `cargo clippy` sets it,
# so the crates are linted while they compile and nothing is compiled twice.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

step "dependencies"
scripts/deps.sh test

step "UI: TypeScript bindings generated from Rust, unit tests, build"
TS_RS_LARGE_INT=number TS_RS_EXPORT_DIR="$(pwd)/ui/src/lib/bindings" \
  cargo test -q --locked -p patchdesk-engine --features ts --lib export_bindings >/dev/null
if [ -n "$(git status --porcelain -- ui/src/lib/bindings 2>/dev/null)" ]; then
  git status --short -- ui/src/lib/bindings
  echo "ui/src/lib/bindings is stale: commit the regenerated TypeScript bindings" >&2
  exit 1
fi
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run -s check && npx vitest run && npm run -s build)

step "format, lints and build (one compilation: clippy-driver lints while rustc builds)"
cargo fmt --all -- --check
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER="$(dirname "$(rustup which cargo 2>/dev/null || command -v cargo)")/clippy-driver"
[ -x "$RUSTC_WORKSPACE_WRAPPER" ] || { echo "clippy-driver not found beside cargo: rustup component add clippy" >&2; exit 1; }
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo build --workspace --all-targets --locked

step "test fleet"
export FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
export PATCHDESK_FLEET="$FLEET_DIR/fleet.json"
# From pristine hosts and repositories (about 10 s warm): a run that stopped half-way (a failed
# test, ^C) leaves hosts upgraded or packages published, and every later run would fail on them.
tests/fleet/fleet.sh reset
tests/fleet/fleet.sh up 6 --rpm 2
trap 'tests/fleet/fleet.sh down || true' EXIT

step "ansible-core for the Ansible export tests (from PyPI in the cache's ansible-venv, once)"
venv="${PATCHDESK_CACHE:-/var/cache/patchdesk}/ansible-venv"
mkdir -p "$(dirname "$venv")"
flock "$venv.lock" sh -c "[ -x '$venv/bin/ansible-playbook' ] || { python3 -m venv '$venv' && '$venv/bin/pip' install -q ansible-core; }"

step "rpm family on the fleet's rpm hosts (scan fragment == rpm and dnf there; a mixed deb+rpm deployment; its Ansible export with dnf and a pin rollback)"
cargo test --locked -p patchdesk-engine --test rpm_fleet -- --ignored
cargo test --locked -p patchdesk-cli --test fleet_rpm_deploy -- --ignored
# The other tests expect the Debian-only fleet: the rpm hosts stop and leave the manifest.
tests/fleet/fleet.sh up 6

step "monitoring for the gate tests (Prometheus + Alertmanager on loopback, tests/fleet/monitoring.sh)"
trap 'tests/fleet/monitoring.sh down || true; tests/fleet/fleet.sh down || true' EXIT
tests/fleet/monitoring.sh up

step "unit and integration tests"
cargo test --workspace --locked --no-fail-fast

step "the Ansible export run by ansible-playbook on the Debian fleet"
cargo test --locked -p patchdesk-cli --test fleet_ansible_export -- --ignored

step "gates on evidence (reboots and stops hosts: after the other fleet tests)"
cargo test --locked -p patchdesk-cli --test fleet_gates -- --ignored
tests/fleet/fleet.sh up 6 >/dev/null

step "end-to-end: the desktop app in a real window"
tests/e2e/run.sh

step "the Debian package: built by the Tauri bundler, installed by dpkg, started"
tests/deb/run.sh --debug

step "done in $(( $(date +%s) - start ))s"
