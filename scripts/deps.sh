#!/usr/bin/env bash
# Install what PatchDesk needs to build, run and test on Debian/Ubuntu, only what is missing.
# Usage: scripts/deps.sh [build|run|app|test]  (run: the desktop app; app: + its end-to-end tools;
#        test: everything, with the test fleet)
set -euo pipefail
what="${1:-build}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

pkgs=(build-essential pkg-config curl ca-certificates git python3)
app_pkgs=(libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev file)
e2e_pkgs=(webkit2gtk-driver xvfb dbus python3-dbusmock python3-xlib poppler-utils xdotool x11-apps)
# The rpm test hosts: rpmbuild, createrepo_c/modifyrepo_c for their repository, python3-rpm for
# rpm's own version comparison (the oracle of tests/version_rpm.rs), dnf as on the hosts.
rpm_pkgs=(rpm dnf dnf-plugins-core createrepo-c python3-rpm)
# The monitoring the gates read in the fleet tests (tests/fleet/monitoring.sh starts them itself,
# on loopback; their packaged services are never started).
mon_pkgs=(prometheus prometheus-alertmanager)
case $what in
  app) pkgs+=("${app_pkgs[@]}" "${e2e_pkgs[@]}") ;;
  # poppler-utils (pdftotext, pdftoppm, pdffonts, pdfinfo) and qpdf read the report PDFs back.
  # systemd: systemd-analyze verifies the unit `patchdesk service install` writes.
  test) pkgs+=(debootstrap openssh-client openssl dpkg-dev apt-utils python3-venv bc qpdf systemd "${rpm_pkgs[@]}" "${mon_pkgs[@]}" "${app_pkgs[@]}" "${e2e_pkgs[@]}") ;;
  run) pkgs+=("${app_pkgs[@]}") ;;
esac

missing=()
# Node.js for the UI build: any node >= 18 with npm will do (Debian's or NodeSource's).
if [ "$what" != build ] && ! { command -v npm >/dev/null 2>&1 && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' 2>/dev/null; }; then
  missing+=(nodejs npm)
fi
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  # Prometheus and Alertmanager are installed for the tests only: their packaged services must
  # not start (on a machine with systemd they would listen on *:9090 / *:9093).
  denied=""
  if [[ " ${missing[*]} " == *" prometheus"* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d; denied=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$denied" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "deps: installing the Rust toolchain (rustup)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
