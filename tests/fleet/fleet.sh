#!/usr/bin/env bash
# The PatchDesk test fleet: N real Debian hosts on this machine, each with its own sshd (own host
# keys, own loopback address) and its own root filesystem managed by real dpkg/apt, plus a local
# apt repository of PatchDesk's own small packages. See tests/README.md.
#
#   fleet.sh up [N]            build what is missing and start hosts 1..N (default 6)
#   fleet.sh down              stop every sshd (by PID) and unmount; files are kept
#   fleet.sh destroy           down, then remove the fleet directory (the base cache stays)
#   fleet.sh status            one line per host
#   fleet.sh stop-host NAME    stop one host's sshd      fleet.sh start-host NAME
#   fleet.sh exec NAME -- CMD  run CMD inside the host's root (chroot, not SSH): the ground truth
#   fleet.sh rekey NAME [--restore]   new SSH host keys (known_hosts is NOT updated); --restore puts the old ones back
#   fleet.sh publish PKG VERSION [--suite S] [--smoke-fail] [--slow|--sleep SECS] [--depends D] [--conflicts C]
#                              add a package version to the repo (--depends 'pd-libfoo1 (>= 1:3.1-1)')
#   fleet.sh unpublish PKG VERSION                             remove it again
#   fleet.sh local-install NAME PKG VERSION                    install a version no repository offers
#   fleet.sh snapshot NAME / restore NAME                      whole-host snapshot (as a hypervisor would)
#   fleet.sh manifest          print the manifest path
set -euo pipefail

FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
# The loopback /24 whose .N is host N (several fleets can run side by side with their own FLEET_DIR).
FLEET_NET=${FLEET_NET:-127.77.0}
CACHE=${PATCHDESK_CACHE:-/var/cache/patchdesk}
BASE="$CACHE/base-bookworm"
REPO="$FLEET_DIR/repo"
PORT=22
KEY_PASSPHRASE=patchdesk-test
ARCH=$(dpkg --print-architecture)

log() { echo "fleet: $*" >&2; }
die() { echo "fleet: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it mounts overlays and starts sshd in chroots)"

name_of() { printf 'pd-%02d' "$1"; }
addr_of() { echo "$FLEET_NET.$1"; }
index_of() { local n=${1#pd-}; echo $((10#$n)); }
host_dir() { echo "$FLEET_DIR/hosts/$1"; }

# --- what each host is -------------------------------------------------------------------------
env_of() { case $1 in 1|2) echo non-prod ;; *) echo prod ;; esac; }
groups_of() {
  local g=()
  case $1 in 1|2) g+=(canary) ;; esac
  if (( $1 % 2 )); then g+=(web); else g+=(db); fi
  case $1 in 1|2) [[ " ${g[*]} " == *" web "* ]] || g+=(web) ;; esac
  g+=(office)
  echo "${g[*]}"
}
user_of() { [ "$1" -eq 3 ] && echo ops || echo root; }
running_of() { [ "$1" -eq 6 ] && echo false || echo true; }
reboot_of() { case $1 in 2|4) echo true ;; *) echo false ;; esac; }
set_of() {
  case $1 in
    1|2) echo "pd-hello=1.0-1 pd-tools=2.0-1 pd-kernel=5.10-1 pd-libfoo1=1:3.0-1 pd-agent=2.0~rc1-1 pd-daemon=1.0-1" ;;
    3) echo "pd-hello=1.0-2 pd-tools=2.1-1 pd-agent=2.0-1" ;;
    4) echo "pd-hello=1.1-1 pd-kernel=5.10-2 pd-libfoo1=1:3.0-1+deb12u1" ;;
    5) echo "pd-hello=1.0-1 pd-libfoo1=1:3.0-1 pd-daemon=1.0-1" ;;
    6) echo "pd-hello=1.0-1" ;;
    *) if (( $1 % 2 )); then set_of 1; else set_of 3; fi ;;
  esac
}

# --- dependencies ------------------------------------------------------------------------------
ensure_tools() {
  local missing=()
  for t in debootstrap:debootstrap dpkg-deb:dpkg apt-ftparchive:apt-utils ssh-keygen:openssh-client python3:python3 unshare:util-linux; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t##*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

mirror() {
  local m
  m=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -v security | head -n1 | awk '{print $2}') || true
  echo "${m:-http://deb.debian.org/debian}"
}

# --- the shared base root ----------------------------------------------------------------------
build_base() {
  [ -f "$BASE/.patchdesk-base-ok" ] && return 0
  mkdir -p "$CACHE"
  if [ ! -f "$BASE.tmp/.debootstrap-ok" ]; then
    rm -rf "$BASE.tmp"
    log "debootstrap bookworm into $BASE (about a minute, once)"
    debootstrap --variant=minbase --include=openssh-server,sudo,python3,ca-certificates \
      bookworm "$BASE.tmp" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $CACHE/debootstrap.log"
    touch "$BASE.tmp/.debootstrap-ok"
  fi
  local b="$BASE.tmp"
  rm -f "$b"/etc/ssh/ssh_host_*
  rm -f "$b"/etc/apt/sources.list "$b"/etc/apt/sources.list.d/*
  cat >"$b/etc/apt/sources.list.d/patchdesk.list" <<EOF
deb [trusted=yes] file:/srv/patchdesk-repo bookworm main
deb [trusted=yes] file:/srv/patchdesk-repo bookworm-security main
EOF
  mkdir -p "$b/srv/patchdesk-repo" "$b/run/sshd" "$b/root/.ssh"
  chmod 700 "$b/root/.ssh"
  chroot "$b" useradd -m -s /bin/bash ops
  chroot "$b" usermod -p '*' ops   # no password, but not a locked account (sshd refuses locked ones)
  mkdir -p "$b/home/ops/.ssh"; chmod 700 "$b/home/ops/.ssh"; chroot "$b" chown -R ops:ops /home/ops/.ssh
  echo 'ops ALL=(ALL) NOPASSWD: ALL' >"$b/etc/sudoers.d/ops"; chmod 440 "$b/etc/sudoers.d/ops"
  chroot "$b" apt-get clean
  rm -rf "$b"/var/lib/apt/lists/*
  touch "$b/.patchdesk-base-ok"
  mv "$b" "$BASE"
}

# --- the local apt repository ------------------------------------------------------------------
# build_deb NAME VERSION SUITE [smoke-exit-code] [postinst-sleep-seconds] [Depends] [Conflicts]
build_deb() {
  local name=$1 version=$2 suite=$3 smoke=${4:-0} slow=${5:-0} dep=${6:-} conflicts=${7:-}
  local out="$REPO/pool/$suite/${name}_${version//:/%3a}_all.deb"
  [ -f "$out" ] && return 0
  local t; t=$(mktemp -d)
  mkdir -p "$t/DEBIAN" "$t/usr/share/doc/$name" "$t/usr/bin" "$REPO/pool/$suite"
  local source="" depends=""
  case $name in
    pd-libfoo1) source="Source: pd-libfoo" ;;
    pd-daemon) depends="Depends: pd-libfoo1" ;;
  esac
  [ -n "$dep" ] && depends="Depends: $dep"
  [ -n "$conflicts" ] && depends="${depends:+$depends
}Conflicts: $conflicts"
  cat >"$t/DEBIAN/control" <<EOF
Package: $name
Version: $version
${source:+$source
}Architecture: all
Maintainer: PatchDesk tests <tests@patchdesk.invalid>
${depends:+$depends
}Section: misc
Priority: optional
Description: PatchDesk test package $name
 A tiny package of the PatchDesk test fleet ($name $version, $suite).
EOF
  echo "$name $version ($suite)" >"$t/usr/share/doc/$name/README"
  printf '#!/bin/sh\n# smoke test of %s %s\necho "%s %s smoke"\nexit %s\n' "$name" "$version" "$name" "$version" "$smoke" >"$t/usr/bin/$name-smoke"
  chmod 755 "$t/usr/bin/$name-smoke"
  case $name in
    pd-hello|pd-daemon)
      mkdir -p "$t/etc"
      echo "# $name configuration (shipped by $version)" >"$t/etc/$name.conf"
      echo "/etc/$name.conf" >"$t/DEBIAN/conffiles" ;;
  esac
  if [ "$name" = pd-kernel ]; then
    # What Debian kernels do: ask for a reboot.
    printf '#!/bin/sh\nset -e\ntouch /run/reboot-required\necho pd-kernel >> /run/reboot-required.pkgs\n' >"$t/DEBIAN/postinst"
    chmod 755 "$t/DEBIAN/postinst"
  fi
  if [ "$slow" != 0 ]; then
    # A slow maintainer script: long enough to interrupt an apply in the middle. While it runs,
    # /var/lib/pd-slow/NAME exists (tests read it from the host's root to know it is running).
    printf '#!/bin/sh\nset -e\nmkdir -p /var/lib/pd-slow\ntouch /var/lib/pd-slow/%s\nsleep %s\nrm -f /var/lib/pd-slow/%s\n' "$name" "$slow" "$name" >"$t/DEBIAN/postinst"
    chmod 755 "$t/DEBIAN/postinst"
  fi
  dpkg-deb --root-owner-group -Zgzip --build "$t" "$out" >/dev/null
  rm -rf "$t"
}

index_repo() {
  local suite label
  for suite in bookworm bookworm-security; do
    label=PatchDesk; [ "$suite" = bookworm-security ] && label="PatchDesk-Security"
    mkdir -p "$REPO/dists/$suite/main/binary-$ARCH" "$REPO/pool/$suite"
    (cd "$REPO" && apt-ftparchive packages "pool/$suite" >"dists/$suite/main/binary-$ARCH/Packages" 2>/dev/null)
    gzip -9nkf "$REPO/dists/$suite/main/binary-$ARCH/Packages"
    (cd "$REPO/dists/$suite" && apt-ftparchive \
      -o APT::FTPArchive::Release::Origin=PatchDesk \
      -o APT::FTPArchive::Release::Label="$label" \
      -o APT::FTPArchive::Release::Suite="$suite" \
      -o APT::FTPArchive::Release::Codename="$suite" \
      -o APT::FTPArchive::Release::Architectures="$ARCH" \
      -o APT::FTPArchive::Release::Components=main \
      release . >Release.new && mv Release.new Release)
  done
}

build_repo() {
  [ -f "$REPO/.ok" ] && return 0
  log "building the local apt repository"
  build_deb pd-hello 1.0-1 bookworm
  build_deb pd-hello 1.0-2 bookworm
  build_deb pd-hello 1.1-1 bookworm-security
  build_deb pd-tools 2.0-1 bookworm
  build_deb pd-tools 2.1-1 bookworm
  build_deb pd-kernel 5.10-1 bookworm
  build_deb pd-kernel 5.10-2 bookworm-security
  build_deb pd-libfoo1 1:3.0-1 bookworm
  build_deb pd-libfoo1 1:3.0-1+deb12u1 bookworm-security
  build_deb pd-agent 2.0~rc1-1 bookworm
  build_deb pd-agent 2.0-1 bookworm
  build_deb pd-daemon 1.0-1 bookworm
  build_deb pd-daemon 1.1-1 bookworm
  index_repo
  touch "$REPO/.ok"
}

# --- client keys -------------------------------------------------------------------------------
build_keys() {
  mkdir -p "$FLEET_DIR/keys"; chmod 700 "$FLEET_DIR/keys"
  [ -f "$FLEET_DIR/keys/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C patchdesk-fleet -f "$FLEET_DIR/keys/id_ed25519"
  [ -f "$FLEET_DIR/keys/id_ed25519_pass" ] || ssh-keygen -q -t ed25519 -N "$KEY_PASSPHRASE" -C patchdesk-fleet-pass -f "$FLEET_DIR/keys/id_ed25519_pass"
}

# --- hosts -------------------------------------------------------------------------------------
is_mounted() { findmnt -rn "$1" >/dev/null 2>&1; }

mount_host() {
  local name=$1 d; d=$(host_dir "$name")
  mkdir -p "$d/upper" "$d/work" "$d/root"
  is_mounted "$d/root" || mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$d/upper,workdir=$d/work" "$d/root"
  if ! is_mounted "$d/root/srv/patchdesk-repo"; then
    mount --bind "$REPO" "$d/root/srv/patchdesk-repo"
    mount -o remount,bind,ro "$d/root/srv/patchdesk-repo"
  fi
}

write_sshd_config() {
  local i=$1 root=$2 permit=prohibit-password
  [ "$i" -eq 3 ] && permit=no
  cat >"$root/etc/ssh/sshd_config" <<EOF
# PatchDesk test fleet host $(name_of "$i")
ListenAddress $(addr_of "$i"):$PORT
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PermitRootLogin $permit
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxSessions 20
MaxStartups 200:30:400
UseDNS no
PidFile none
Subsystem sftp internal-sftp
EOF
}

host_keys() {
  local root=$1
  rm -f "$root"/etc/ssh/ssh_host_*
  ssh-keygen -q -t ed25519 -N '' -C '' -f "$root/etc/ssh/ssh_host_ed25519_key"
  ssh-keygen -q -t ecdsa -b 256 -N '' -C '' -f "$root/etc/ssh/ssh_host_ecdsa_key"
}

# A host's package set is installed once per distinct set and kept as a template upper layer;
# later hosts with the same set start from a copy (seconds instead of an apt run each).
template_of() { echo "$FLEET_DIR/templates/$(set_of "$1" | md5sum | cut -c1-12)"; }

install_set() {
  local i=$1 root=$2 tpl
  tpl=$(template_of "$i")
  chroot "$root" apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed in $(name_of "$i")"
  # shellcheck disable=SC2046
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --allow-downgrades -o Dpkg::Use-Pty=0 \
    -o Dpkg::Options::=--force-confold $(set_of "$i") >/dev/null \
    || die "installing '$(set_of "$i")' failed in $(name_of "$i")"
  rm -f "$root/run/reboot-required" "$root/run/reboot-required.pkgs"
  chroot "$root" apt-get clean
  mkdir -p "$tpl.tmp"
  (cd "$(dirname "$root")/upper" && tar -cf - .) | (cd "$tpl.tmp" && tar -xpf -)
  mv "$tpl.tmp" "$tpl"
}

create_host() {
  local i=$1 name d root
  name=$(name_of "$i"); d=$(host_dir "$name"); root="$d/root"
  [ -f "$d/.created" ] && return 0
  log "creating $name"
  unmount_host "$name"; rm -rf "$d"; mkdir -p "$d/upper"
  local tpl; tpl=$(template_of "$i")
  if [ -d "$tpl" ]; then
    (cd "$tpl" && tar -cf - .) | (cd "$d/upper" && tar -xpf -)
    mount_host "$name"
  else
    mount_host "$name"
    install_set "$i" "$root"
  fi
  echo "$name" >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n%s %s\n' "$(addr_of "$i")" "$name" >"$root/etc/hosts"
  host_keys "$root"
  write_sshd_config "$i" "$root"
  for home in root home/ops; do
    cat "$FLEET_DIR/keys/id_ed25519.pub" "$FLEET_DIR/keys/id_ed25519_pass.pub" >"$root/$home/.ssh/authorized_keys"
    chmod 600 "$root/$home/.ssh/authorized_keys"
  done
  chroot "$root" chown -R ops:ops /home/ops/.ssh
  if [ "$(reboot_of "$i")" = true ]; then
    touch "$root/run/reboot-required"; echo pd-kernel >"$root/run/reboot-required.pkgs"
  fi
  touch "$d/.created"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_host() {
  local name=$1 d root; d=$(host_dir "$name"); root="$d/root"
  [ -f "$d/.created" ] || die "no host $name"
  mount_host "$name"
  pid_alive "$d/pid" && return 0
  # Own mount, UTS and PID namespaces; --kill-child ends sshd when the unshare process is killed.
  setsid unshare --mount --uts --pid --fork --kill-child -- \
    sh -c 'hostname "$1"; mount -t proc proc "$2/proc"; exec chroot "$2" /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config' \
    sh "$name" "$root" >>"$d/sshd.log" 2>&1 </dev/null &
  echo $! >"$d/pid"
  local addr; addr=$(sed -n 's/^ListenAddress //p' "$root/etc/ssh/sshd_config")
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then return 0; fi
    pid_alive "$d/pid" || die "sshd of $name exited; see $d/sshd.log"
    sleep 0.05
  done
  die "sshd of $name does not listen on $addr; see $d/sshd.log"
}

stop_host() {
  local d; d=$(host_dir "$1")
  if pid_alive "$d/pid"; then
    local pid; pid=$(cat "$d/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$d/pid"
}

unmount_host() {
  local root; root="$(host_dir "$1")/root"
  is_mounted "$root/srv/patchdesk-repo" && { umount "$root/srv/patchdesk-repo" || umount -l "$root/srv/patchdesk-repo"; }
  is_mounted "$root" && { umount "$root" || umount -l "$root"; }
  return 0
}

all_hosts() { [ -d "$FLEET_DIR/hosts" ] && ls "$FLEET_DIR/hosts" | sort; }

write_manifest() {
  local n=$1
  python3 - "$FLEET_DIR" "$n" "$PORT" "$KEY_PASSPHRASE" "$FLEET_NET" <<'PY'
import json, os, sys, subprocess
d, n, port, passphrase, net = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def sh(*a): return subprocess.check_output(["bash", os.environ["FLEET_SCRIPT"], *a], text=True).strip()
hosts = []
for i in range(1, n + 1):
    name = f"pd-{i:02d}"
    hosts.append({
        "name": name, "address": f"{net}.{i}", "port": port,
        "user": "ops" if i == 3 else "root",
        "environment": "non-prod" if i in (1, 2) else "prod",
        "groups": sh("_groups", str(i)).split(),
        "running": i != 6,
        "root": f"{d}/hosts/{name}/root",
        "reboot_required": i in (2, 4),
    })
m = {"dir": d, "port": port, "known_hosts": f"{d}/known_hosts", "key": f"{d}/keys/id_ed25519",
     "key_pass": f"{d}/keys/id_ed25519_pass", "key_passphrase": passphrase, "repo": f"{d}/repo",
     "hosts": hosts}
json.dump(m, open(f"{d}/fleet.json.new", "w"), indent=1)
os.replace(f"{d}/fleet.json.new", f"{d}/fleet.json")
# known_hosts: every key of every host
with open(f"{d}/known_hosts", "w") as kh:
    for h in hosts:
        for t in ("ed25519", "ecdsa"):
            key = open(f"{h['root']}/etc/ssh/ssh_host_{t}_key.pub").read().split()[:2]
            host = h["address"] if port == 22 else f"[{h['address']}]:{port}"
            kh.write(f"{host} {key[0]} {key[1]}\n")
with open(f"{d}/ssh_config", "w") as c:
    for h in hosts:
        c.write(f"Host {h['name']}\n  HostName {h['address']}\n  Port {port}\n  User {h['user']}\n"
                f"  IdentityFile {d}/keys/id_ed25519\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n"
                f"  StrictHostKeyChecking yes\n  ConnectTimeout 5\n\n")
with open(f"{d}/hosts.csv", "w") as c:
    c.write("name,address,port,user,key,environment,groups,tags\n")
    for h in hosts:
        c.write(f"{h['name']},{h['address']},{port},{h['user']},{d}/keys/id_ed25519,{h['environment']},{';'.join(h['groups'])},fleet\n")
groups = {}
for h in hosts:
    for g in h["groups"]:
        groups.setdefault(g, []).append(h)
with open(f"{d}/inventory.ini", "w") as c:
    for g, hs in sorted(groups.items()):
        c.write(f"[{g}]\n")
        for h in hs:
            c.write(f"{h['name']} ansible_host={h['address']} ansible_port={port} ansible_user={h['user']}\n")
        c.write("\n")
    c.write("[all:vars]\n")
    c.write(f"ansible_ssh_private_key_file={d}/keys/id_ed25519\n")
    c.write(f"ansible_ssh_common_args='-o UserKnownHostsFile={d}/known_hosts -o StrictHostKeyChecking=yes'\n")
    c.write("ansible_become=true\n")
    c.write("[canary:vars]\npatchdesk_environment=non-prod\n")
PY
}

cmd_up() {
  local n=${1:-6}
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 250 ] || die "N must be 1..250"
  [[ "$FLEET_NET" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "FLEET_NET must be a loopback /24 such as 127.77.0"
  ensure_tools
  build_base
  mkdir -p "$FLEET_DIR/hosts" "$FLEET_DIR/templates"
  build_keys
  build_repo
  # Hosts above N are stopped and unmounted (their files are kept for a later, larger `up`).
  local h i
  for h in $(all_hosts); do
    i=$(index_of "$h")
    if [ "$i" -gt "$n" ]; then stop_host "$h"; unmount_host "$h"; fi
  done
  for i in $(seq "$n"); do create_host "$i"; done
  for i in $(seq "$n"); do
    h=$(name_of "$i")
    mount_host "$h"
    if [ "$(running_of "$i")" = true ]; then start_host "$h"; else stop_host "$h"; fi
  done
  echo "$n" >"$FLEET_DIR/size"
  FLEET_SCRIPT="$0" write_manifest "$n"
  log "up: $n hosts ($(grep -c '"running": true' "$FLEET_DIR/fleet.json") running); manifest $FLEET_DIR/fleet.json"
}

cmd_down() {
  local h
  for h in $(all_hosts); do stop_host "$h"; unmount_host "$h"; done
  log "down: no fleet sshd running, nothing mounted"
}

cmd_status() {
  local h d
  for h in $(all_hosts); do
    d=$(host_dir "$h")
    printf '%s %s %s\n' "$h" "$(sed -n 's/^ListenAddress //p' "$d/root/etc/ssh/sshd_config" 2>/dev/null || echo '?')" \
      "$(pid_alive "$d/pid" && echo running || echo stopped)"
  done
}

cmd_exec() {
  local name=$1; shift
  [ "${1:-}" = "--" ] && shift
  local root; root="$(host_dir "$name")/root"
  is_mounted "$root" || die "$name is not mounted (run fleet.sh up)"
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C chroot "$root" "$@"
}

cmd_rekey() {
  local name=$1 mode=${2:-} d root; d=$(host_dir "$name"); root="$d/root"
  is_mounted "$root" || die "$name is not mounted"
  if [ "$mode" = --restore ]; then
    [ -d "$d/keys.orig" ] || die "$name has no saved keys"
    cp -a "$d/keys.orig/." "$root/etc/ssh/"
  else
    if [ ! -d "$d/keys.orig" ]; then mkdir -p "$d/keys.orig"; cp -a "$root"/etc/ssh/ssh_host_* "$d/keys.orig/"; fi
    host_keys "$root"
  fi
  if pid_alive "$d/pid"; then stop_host "$name"; start_host "$name"; fi
  log "rekey $name ${mode:-done}"
}

cmd_unpublish() {
  local pkg=$1 version=$2 f
  [[ "$pkg" =~ ^pd-[a-z0-9.+-]+$ ]] || die "package names of the fleet start with pd-"
  for f in "$REPO"/pool/*/"${pkg}_${version//:/%3a}_all.deb"; do [ -e "$f" ] && rm -f "$f"; done
  index_repo
  log "unpublished $pkg $version (hosts forget it after apt-get update)"
}

# A package version that is installed on a host but offered by no repository (no downgrade path).
cmd_local_install() {
  local host=$1 pkg=$2 version=$3 t
  [[ "$pkg" =~ ^pd-[a-z0-9.+-]+$ ]] || die "package names of the fleet start with pd-"
  t=$(mktemp -d)
  REPO="$t" build_deb "$pkg" "$version" local
  cp "$t/pool/local/"*.deb "$(host_dir "$host")/root/tmp/local.deb"
  rm -rf "$t"
  cmd_exec "$host" -- dpkg -i /tmp/local.deb >/dev/null
  rm -f "$(host_dir "$host")/root/tmp/local.deb"
  log "installed $pkg $version on $host outside the repository"
}

# Whole-host snapshots, the way a hypervisor would take them: a copy of the host's own layer.
cmd_snapshot() {
  local name=$1 d; d=$(host_dir "$name")
  [ -f "$d/.created" ] || die "no host $name"
  rm -rf "$d/upper.snap"
  cp -a "$d/upper" "$d/upper.snap"
  log "snapshot of $name taken"
}

cmd_restore() {
  local name=$1 d was_running=false; d=$(host_dir "$name")
  [ -d "$d/upper.snap" ] || die "$name has no snapshot"
  pid_alive "$d/pid" && was_running=true
  stop_host "$name"; unmount_host "$name"
  rm -rf "$d/upper" "$d/work"
  cp -a "$d/upper.snap" "$d/upper"
  mount_host "$name"
  if $was_running; then start_host "$name"; fi
  log "$name restored from its snapshot"
}

cmd_publish() {
  local pkg=$1 version=$2 suite=bookworm smoke=0 slow=0 depends="" conflicts=""; shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --suite) suite=$2; shift 2 ;;
      --smoke-fail) smoke=1; shift ;;
      --slow) slow=4; shift ;;
      --sleep) slow=$2; shift 2 ;;
      --depends) depends=$2; shift 2 ;;
      --conflicts) conflicts=$2; shift 2 ;;
      *) die "publish: unknown option $1" ;;
    esac
  done
  case $suite in bookworm|bookworm-security) ;; *) die "suite must be bookworm or bookworm-security" ;; esac
  [[ "$pkg" =~ ^pd-[a-z0-9.+-]+$ ]] || die "package names of the fleet start with pd-"
  [[ "$slow" =~ ^[0-9]+$ ]] || die "--sleep takes whole seconds"
  local relation='^[a-z0-9.+:~|,()<>= -]*$'
  [[ "$depends$conflicts" =~ $relation ]] || die "--depends/--conflicts: a Debian relationship field such as 'pd-libfoo1 (>= 1:3.1-1)'"
  build_deb "$pkg" "$version" "$suite" "$smoke" "$slow" "$depends" "$conflicts"
  index_repo
  log "published $pkg $version in $suite (hosts see it after apt-get update)"
}

FLEET_SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
export FLEET_SCRIPT
case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  destroy) cmd_down; rm -rf "$FLEET_DIR"; log "destroyed $FLEET_DIR" ;;
  status) cmd_status ;;
  stop-host) stop_host "$2" ;;
  start-host) start_host "$2" ;;
  exec) shift; cmd_exec "$@" ;;
  rekey) shift; cmd_rekey "$@" ;;
  publish) shift; cmd_publish "$@" ;;
  unpublish) shift; cmd_unpublish "$@" ;;
  local-install) shift; cmd_local_install "$@" ;;
  snapshot) cmd_snapshot "$2" ;;
  restore) cmd_restore "$2" ;;
  manifest) echo "$FLEET_DIR/fleet.json" ;;
  _groups) groups_of "$2" ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
