#!/usr/bin/env bash
# The Debian package of the desktop app, built by the Tauri bundler (scripts/deb.sh), installed for
# real by dpkg into a throw-away root (this machine's own packages are not touched), its dependencies
# resolved by apt against this machine, and started: the installed binary opens its window under
# Xvfb on a fresh database, the installed CLI answers, the desktop entry validates and names the
# installed binary and icon. Usage: tests/deb/run.sh [--debug]  (scripts/test.sh passes --debug)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
fail() { echo "deb test: FAIL: $*" >&2; exit 1; }
ok() { echo "deb test: ok: $*"; }

deb=$(scripts/deb.sh "$@")
[ -f "$deb" ] || fail "scripts/deb.sh printed no package ($deb)"
ok "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"
pkg=$(dpkg-deb -f "$deb" Package)
[ -n "$pkg" ] || fail "the package has no Package field"

work=$(mktemp -d /var/tmp/pd-deb.XXXXXX)
xvfb_pid=""; app_pid=""
cleanup() { [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null; [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# apt resolves the package's dependencies on this machine (a simulation: nothing is installed here).
apt-get -s install "$(realpath "$deb")" >"$work/apt-sim.log" 2>&1 || { cat "$work/apt-sim.log"; fail "apt cannot install $deb here"; }
grep -q "^Inst $pkg " "$work/apt-sim.log" || { cat "$work/apt-sim.log"; fail "apt's simulation does not install $pkg"; }
ok "apt resolves its dependencies: $(dpkg-deb -f "$deb" Depends)"

# dpkg installs it for real into a root of its own.
root="$work/root"
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info" "$root/var/log"
: >"$root/var/lib/dpkg/status"
dpkg --root="$root" --log="$root/var/log/dpkg.log" --force-depends --force-script-chrootless -i "$deb" >"$work/dpkg.log" 2>&1 \
  || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
[ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' "$pkg")" = "install ok installed" ] || fail "dpkg does not record $pkg as installed"
ok "dpkg installed $pkg $(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' "$pkg")"

app="$root/usr/bin/patchdesk-app"; cli="$root/usr/bin/patchdesk"
[ -x "$app" ] || fail "no /usr/bin/patchdesk-app in the package"
[ -x "$cli" ] || fail "no /usr/bin/patchdesk in the package"
desktop=$(ls "$root"/usr/share/applications/*.desktop 2>/dev/null | head -1)
[ -n "$desktop" ] || fail "no desktop entry"
grep -q '^Exec=patchdesk-app' "$desktop" || { cat "$desktop"; fail "the desktop entry does not start patchdesk-app"; }
icon=$(sed -n 's/^Icon=//p' "$desktop")
ls "$root"/usr/share/icons/hicolor/*/apps/"$icon".png >/dev/null 2>&1 || fail "the desktop entry's icon $icon is not installed"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$desktop" || fail "desktop-file-validate"; fi
ok "desktop entry $(basename "$desktop"): Exec=patchdesk-app, icon $icon installed"

"$cli" --version | grep -q '^patchdesk ' || fail "the installed CLI does not answer --version"
PATCHDESK_DB="$work/cli.db" "$cli" host list >/dev/null || fail "the installed CLI cannot open a database"
ok "installed CLI: $("$cli" --version)"

# The installed app starts and opens its window on a fresh database.
display=":$(( 120 + RANDOM % 50 ))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 & xvfb_pid=$!
for _ in $(seq 50); do DISPLAY=$display xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.2; done
DISPLAY=$display PATCHDESK_DB="$work/app.db" dbus-run-session -- "$app" >"$work/app.log" 2>&1 & app_pid=$!
found=""
for _ in $(seq 120); do
  kill -0 "$app_pid" 2>/dev/null || { cat "$work/app.log"; fail "the installed app exited"; }
  if DISPLAY=$display xdotool search --name '^PatchDesk$' >/dev/null 2>&1; then found=1; break; fi
  sleep 0.5
done
[ -n "$found" ] || { cat "$work/app.log"; fail "no PatchDesk window within 60 s"; }
[ -f "$work/app.db" ] || fail "the app did not create its database"
ok "the installed app opened its window and created its database"
echo "deb test: passed"
