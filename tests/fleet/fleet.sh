#!/usr/bin/env bash
# The PatchDesk test fleet: N real Debian hosts on this machine, each with its own sshd (own host
# keys, own loopback address) and its own root filesystem managed by real dpkg/apt, plus a local
# apt repository of PatchDesk's own small packages; and, opt-in, M Rocky-Linux-9-like hosts with
# real rpm and dnf and a local rpm repository with updateinfo. See tests/README.md.
#
#   fleet.sh up [N] [--rpm M]  build what is missing and start hosts pd-01..N (default 6) and pd-r1..rM (default 0)
#   fleet.sh down              stop every sshd (by PID) and unmount; files are kept
#   fleet.sh destroy           down, then remove the fleet directory (the base cache stays)
#   fleet.sh reset             down, remove the hosts and put the repositories back as built
#                              (keys, templates and monitoring stay): the next up starts from
#                              pristine hosts
#   fleet.sh status            one line per host
#   fleet.sh stop-host NAME    stop one host's sshd      fleet.sh start-host NAME
#   fleet.sh reboot NAME [--hang] [--down SECS] [--wait]   the host's "boot" again (services, sshd);
#                              --hang: it never comes back (until start-host)
#   fleet.sh exec NAME -- CMD  run CMD inside the host's root (chroot, not SSH): the ground truth
#   fleet.sh rekey NAME [--restore]   new SSH host keys (known_hosts is NOT updated); --restore puts the old ones back
#   fleet.sh publish PKG VERSION [--suite S] [--smoke-fail] [--slow|--sleep SECS] [--depends D] [--conflicts C]
#                              add a package version to the repo (--depends 'pd-libfoo1 (>= 1:3.1-1)')
#   fleet.sh publish PKG [E:]V-R --family rpm [--smoke-fail] [--slow|--sleep SECS] [--requires DEP]
#                    [--advisory ID --severity S [--cve CVE]... [--issued YYYY-MM-DD]]     the same for the rpm repo
#   fleet.sh unpublish PKG VERSION [--family rpm]              remove it again (the family is found by name when not given)
#   fleet.sh local-install NAME PKG VERSION                    install a version no repository offers
#   fleet.sh snapshot NAME / restore NAME                      whole-host snapshot (as a hypervisor would)
#   fleet.sh manifest          print the manifest path
set -euo pipefail

FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
# The loopback /24 whose .N is host N for N <= 99 (several fleets can run side by side with their
# own FLEET_DIR).
FLEET_NET=${FLEET_NET:-127.77.0}
# Hosts 100 and up (large fleets): FLEET_BIG_NET.X.Y, 200 hosts per /24 (host N: X = (N-100)/200,
# Y = (N-100)%200 + 1); a /16 of its own, apart from the 127.77.* of the small fleets.
FLEET_BIG_NET=${FLEET_BIG_NET:-127.80}
# Hosts LIGHT_FROM and up are light hosts: no process of their own while idle (one listener,
# tests/fleet/light-sshd.py, starts the host's own sshd in inetd mode per connection), and a root
# that is the shared base plus the shared template of its package set (both read-only lower
# layers) plus a small upper layer of its own (name, keys, sshd_config). They do not "boot":
# no reboot, no /etc/pd-boot.d services. Hosts 1..6 are the full hosts the tests use.
LIGHT_FROM=7
CACHE=${PATCHDESK_CACHE:-/var/cache/patchdesk}
BASE="$CACHE/base-bookworm"
REPO="$FLEET_DIR/repo"
PORT=22
KEY_PASSPHRASE=patchdesk-test
ARCH=$(dpkg --print-architecture)
# The rpm hosts (opt-in): a Rocky-Linux-9-like root with real rpm + dnf, its own repository.
RPM_BASE="$CACHE/base-rocky9"
RPM_REPO="$FLEET_DIR/rpm-repo"
RPM_ARCH=$(uname -m)          # rpm's name for this machine's architecture (x86_64, aarch64)
RPM_OFFSET=100                # rpm host K listens on $FLEET_NET.(100+K)

log() { echo "fleet: $*" >&2; }
die() { echo "fleet: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it mounts overlays and starts sshd in chroots)"

name_of() { printf 'pd-%02d' "$1"; }
addr_of() {
  if [ "$1" -le 99 ]; then echo "$FLEET_NET.$1"
  else echo "$FLEET_BIG_NET.$((($1 - 100) / 200)).$((($1 - 100) % 200 + 1))"; fi
}
# A light host (see LIGHT_FROM) by name.
is_light() { [[ "$1" =~ ^pd-[0-9]+$ ]] && [ "$(index_of "$1")" -ge "$LIGHT_FROM" ]; }
LIGHT_TABLE_NAME=light-hosts
index_of() { local n=${1#pd-}; echo $((10#$n)); }
host_dir() { echo "$FLEET_DIR/hosts/$1"; }
# rpm hosts are named pd-rK (K = 1, 2, ...).
rpm_name_of() { echo "pd-r$1"; }
rpm_addr_of() { echo "$FLEET_NET.$((RPM_OFFSET + $1))"; }
is_rpm_host() { [[ "$1" =~ ^pd-r[0-9]+$ ]]; }
rpm_index_of() { echo $((10#${1#pd-r})); }
family_of_host() { if is_rpm_host "$1"; then echo rpm; else echo deb; fi; }

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

# rpm host K: pd-r1 is a non-prod canary with an old package set, pd-r2 a partly patched prod
# host; hosts 3..M alternate between the two sets. Versions are rpm's [EPOCH:]VERSION-RELEASE.
rpm_env_of() { [ "$1" -eq 1 ] && echo non-prod || echo prod; }
rpm_groups_of() {
  if [ "$1" -eq 1 ]; then echo "canary web office"
  elif (( $1 % 2 )); then echo "web office"
  else echo "db office"; fi
}
rpm_set_of() {
  case $1 in
    1) echo "pd-base-9.3-1.el9 pd-hello-1.0-1.el9 pd-tools-2.0-1.el9 pd-kernel-5.14.0-1.el9 pd-libfoo-libs-1:3.0-1.el9 pd-agent-2.0~rc1-1.el9 pd-daemon-1.0-1.el9" ;;
    2) echo "pd-base-9.3-1.el9 pd-hello-1.0-2.el9 pd-tools-2.1-1.el9 pd-kernel-5.14.0-1.el9 pd-libfoo-libs-1:3.0-2.el9 pd-agent-2.0-1.el9" ;;
    *) if (( $1 % 2 )); then rpm_set_of 1; else rpm_set_of 2; fi ;;
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

ensure_rpm_tools() {
  local missing=()
  for t in rpmbuild:rpm createrepo_c:createrepo-c modifyrepo_c:createrepo-c dnf:dnf nsenter:util-linux flock:util-linux; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t##*:}")
  done
  [ -d /usr/lib/python3/dist-packages/dnf-plugins ] || missing+=(dnf-plugins-core)
  /usr/bin/python3 -c 'import rpm' 2>/dev/null || missing+=(python3-rpm)
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

# --- the shared Rocky-Linux-9-like base root (rpm hosts) ---------------------------------------
# Debian ships the same dnf/libdnf as Rocky 9 (dnf 4.14, libdnf 0.69) and rpm 4.18 (Rocky: 4.16):
# a minimal Debian root with rpm, dnf and dnf-plugins-core, made to look and behave like Rocky 9
# (os-release, *-release files, rpmdb in /var/lib/rpm, RHEL's dnf.conf defaults), with the
# Debian package manager removed so nothing on the host answers to dpkg or apt.
write_rocky_os_release() {
  cat >"$1" <<'EOF'
NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.3"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.3"
EOF
}

build_rpm_base() {
  [ -f "$RPM_BASE/.patchdesk-base-ok" ] && return 0
  mkdir -p "$CACHE"
  # Several fleets (FLEET_DIR) may share the cache: one builder at a time.
  exec 8>"$CACHE/.base-rocky9.lock"
  flock 8
  if [ -f "$RPM_BASE/.patchdesk-base-ok" ]; then exec 8>&-; return 0; fi
  local b="$RPM_BASE.tmp" t0=$SECONDS
  if [ ! -f "$b/.debootstrap-ok" ]; then
    rm -rf "$b"
    log "debootstrap a Rocky-9-like rpm/dnf root into $RPM_BASE (about two minutes, once)"
    debootstrap --variant=minbase --include=openssh-server,sudo,rpm,dnf,dnf-plugins-core \
      bookworm "$b" "$(mirror)" >"$CACHE/debootstrap-rocky9.log" 2>&1 \
      || die "debootstrap failed; see $CACHE/debootstrap-rocky9.log"
    touch "$b/.debootstrap-ok"
  fi
  rm -f "$b"/etc/ssh/ssh_host_*
  mkdir -p "$b/run/sshd" "$b/root/.ssh" "$b/srv/patchdesk-rpm-repo" "$b/etc/rpm" "$b/etc/yum.repos.d" \
    "$b/etc/dnf/vars" "$b/etc/dnf/plugins/needs-restarting.d"
  chmod 700 "$b/root/.ssh"
  chroot "$b" id ops >/dev/null 2>&1 || chroot "$b" useradd -m -s /bin/bash ops
  chroot "$b" usermod -p '*' ops
  mkdir -p "$b/home/ops/.ssh"; chmod 700 "$b/home/ops/.ssh"; chroot "$b" chown -R ops:ops /home/ops/.ssh
  echo 'ops ALL=(ALL) NOPASSWD: ALL' >"$b/etc/sudoers.d/ops"; chmod 440 "$b/etc/sudoers.d/ops"
  # Rocky Linux 9, as the scan sees it.
  rm -f "$b/etc/os-release" "$b/usr/lib/os-release" "$b/etc/debian_version"
  write_rocky_os_release "$b/usr/lib/os-release"
  ln -s ../usr/lib/os-release "$b/etc/os-release"
  echo 'Rocky Linux release 9.3 (Blue Onyx)' >"$b/etc/rocky-release"
  ln -sf rocky-release "$b/etc/redhat-release"
  ln -sf rocky-release "$b/etc/system-release"
  echo 'cpe:/o:rocky:rocky:9::baseos' >"$b/etc/system-release-cpe"
  # Debian's rpm keeps its database in ~/.rpmdb; RHEL's is /var/lib/rpm.
  echo '%_dbpath /var/lib/rpm' >"$b/etc/rpm/macros.dbpath"
  rm -rf "$b/root/.rpmdb"
  echo 9 >"$b/etc/dnf/vars/releasever"
  # RHEL's dnf.conf defaults (Debian's has best=False and skip_if_unavailable=True).
  cat >"$b/etc/dnf/dnf.conf" <<'EOF'
[main]
gpgcheck=1
installonly_limit=3
clean_requirements_on_remove=True
best=True
skip_if_unavailable=False
EOF
  # dnf-plugins-core's `local` plugin (Debian enables it) would add a repository of its own.
  sed -i 's/^enabled *= *.*/enabled = false/' "$b/etc/dnf/plugins/local.conf"
  cat >"$b/etc/yum.repos.d/patchdesk.repo" <<'EOF'
[pd-baseos]
name=PatchDesk test packages for Rocky Linux 9
baseurl=file:///srv/patchdesk-rpm-repo
enabled=1
gpgcheck=0
repo_gpgcheck=0
EOF
  # No Debian package manager on a Rocky host.
  rm -rf "$b"/usr/bin/apt* "$b"/usr/bin/dpkg* "$b"/usr/sbin/dpkg* "$b"/etc/apt "$b"/var/lib/apt \
    "$b"/var/cache/apt "$b"/var/lib/dpkg "$b"/var/log/dpkg.log "$b"/var/log/apt
  rm -rf "$b"/var/cache/dnf/* "$b"/usr/share/doc/* "$b"/usr/share/man/* "$b"/usr/share/locale/*
  touch "$b/.patchdesk-base-ok"
  mv "$b" "$RPM_BASE"
  log "rpm base root built in $((SECONDS - t0)) s"
  exec 8>&-
}

# --- the local rpm repository ------------------------------------------------------------------
# PatchDesk's own small rpm packages, built with rpmbuild from a generated spec, indexed with
# createrepo_c, and an updateinfo.xml (modifyrepo_c) with security advisories (RLSA, severities,
# CVE ids, issued dates) and a bugfix advisory (RLBA). Advisories are kept one JSON object a line
# in $FLEET_DIR/rpm-advisories.jsonl, so `publish --advisory` can add one.

# split_evr "[E:]V-R" -> sets EPOCH VER REL
split_evr() {
  local evr=$1
  EPOCH=""; [[ "$evr" == *:* ]] && { EPOCH=${evr%%:*}; evr=${evr#*:}; }
  VER=${evr%-*}; REL=${evr##*-}
  [[ "$EPOCH" =~ ^[0-9]*$ && "$VER" =~ ^[A-Za-z0-9._+~^]+$ && "$REL" =~ ^[A-Za-z0-9._+~^]+$ && "$evr" == *-* ]] \
    || die "rpm version must be [EPOCH:]VERSION-RELEASE, got '$1'"
}

rpm_arch_of() { if [ "$1" = pd-kernel ]; then echo "$RPM_ARCH"; else echo noarch; fi; }

# build_rpm NAME [E:]V-R [smoke-exit-code] [post-sleep-seconds] [requires]
build_rpm() {
  local name=$1 evr=$2 smoke=${3:-0} slow=${4:-0} requires=${5:-}
  split_evr "$evr"
  local arch spec_name=$name sub=""
  arch=$(rpm_arch_of "$name")                      # pd-kernel is architecture-specific, like kernels
  if [ "$name" = pd-libfoo-libs ]; then spec_name=pd-libfoo; sub=libs; fi   # a subpackage: source rpm pd-libfoo
  [ "$name" = pd-daemon ] && [ -z "$requires" ] && requires="pd-libfoo-libs"
  local out="$RPM_REPO/Packages/$name-$VER-$REL.$arch.rpm"
  [ -f "$out" ] && return 0
  local t; t=$(mktemp -d)
  mkdir -p "$t/SPECS" "$RPM_REPO/Packages"
  # What every package installs: a README and a smoke check; pd-hello and pd-daemon a config
  # file; the kernel-like package the needs-restarting rule that makes dnf ask for a reboot.
  local install files
  install="mkdir -p %{buildroot}/usr/share/doc/$name %{buildroot}/usr/bin
echo '$name $evr' > %{buildroot}/usr/share/doc/$name/README
printf '#!/bin/sh\\n# smoke test of $name $evr\\necho \"$name $evr smoke\"\\nexit $smoke\\n' > %{buildroot}/usr/bin/$name-smoke
chmod 755 %{buildroot}/usr/bin/$name-smoke"
  files="/usr/share/doc/$name
/usr/bin/$name-smoke"
  case $name in
    pd-hello|pd-daemon)
      install+="
mkdir -p %{buildroot}/etc
echo '# $name configuration (shipped by $evr)' > %{buildroot}/etc/$name.conf"
      files+="
%config(noreplace) /etc/$name.conf" ;;
    pd-kernel)
      install+="
mkdir -p %{buildroot}/etc/dnf/plugins/needs-restarting.d
echo pd-kernel > %{buildroot}/etc/dnf/plugins/needs-restarting.d/pd-kernel.conf"
      files+="
/etc/dnf/plugins/needs-restarting.d/pd-kernel.conf" ;;
  esac
  local post=""
  # A slow scriptlet: long enough to interrupt an apply in the middle. While it runs,
  # /var/lib/pd-slow/NAME exists (tests read it from the host's root to know it is running).
  [ "$slow" != 0 ] && post="%post -p /bin/sh
mkdir -p /var/lib/pd-slow
touch /var/lib/pd-slow/$name
sleep $slow
rm -f /var/lib/pd-slow/$name"
  local buildarch="" reqline="" epochline=""
  [ "$arch" = noarch ] && buildarch="BuildArch: noarch"
  [ -n "$requires" ] && reqline="Requires: $requires"
  # pd-base stands in for Rocky's bash and rocky-release: what scriptlets and dnf look for.
  [ "$name" = pd-base ] && reqline="Provides: /bin/sh
Provides: /bin/bash
Provides: system-release = 9.3
Provides: system-release(releasever) = 9"
  [ -n "$EPOCH" ] && epochline="Epoch: $EPOCH"
  {
    printf '%s\n' "Name: $spec_name" "Version: $VER" "Release: $REL" "$epochline" \
      "Summary: PatchDesk test package $spec_name" "License: MIT" "URL: https://patchdesk.invalid/" \
      "$buildarch" "AutoReqProv: no" "%define debug_package %{nil}" "%define _build_id_links none"
    if [ -z "$sub" ]; then printf '%s\n' "$reqline"; fi
    printf '%s\n' "%description" "A tiny package of the PatchDesk test fleet ($spec_name $evr)."
    if [ -n "$sub" ]; then
      printf '%s\n' "%package $sub" "Summary: PatchDesk test library $name" "AutoReqProv: no" "$reqline" \
        "%description $sub" "A tiny library of the PatchDesk test fleet ($name $evr, source $spec_name)."
      printf '%s\n' "%install" "$install" "%files $sub" "$files"
      if [ -n "$post" ]; then printf '%s\n' "${post/\%post/%post $sub}"; fi
    else
      printf '%s\n' "%install" "$install" "%files" "$files" "$post"
    fi
  } >"$t/SPECS/pd.spec"
  rpmbuild -bb --quiet --define "_topdir $t" --target "$arch" "$t/SPECS/pd.spec" \
    >"$t/build.log" 2>&1 || { cat "$t/SPECS/pd.spec" "$t/build.log" >&2; die "rpmbuild of $name $evr failed"; }
  mv "$t/RPMS/$arch/$name-$VER-$REL.$arch.rpm" "$out"
  rm -rf "$t"
}

# add_advisory ID TYPE SEVERITY ISSUED TITLE "CVE ..." "NAME|EPOCH|VER|REL|ARCH|SRC ..."
add_advisory() {
  /usr/bin/python3 - "$FLEET_DIR/rpm-advisories.jsonl" "$@" <<'PY'
import json, os, sys
path, aid, typ, sev, issued, title, cves, pkgs = sys.argv[1:9]
pk = []
for p in pkgs.split():
    n, e, v, r, a, src = p.split("|")
    pk.append({"name": n, "epoch": e or "0", "version": v, "release": r, "arch": a, "src": src})
rows = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
rows = [x for x in rows if x["id"] != aid]
rows.append({"id": aid, "type": typ, "severity": sev, "issued": issued, "title": title,
             "cves": cves.split(), "packages": pk})
with open(path + ".new", "w") as f:
    for x in rows:
        f.write(json.dumps(x) + "\n")
os.replace(path + ".new", path)
PY
}

# The package of NAME [E:]V-R as add_advisory takes it.
rpm_pkg_ref() {
  split_evr "$2"
  local src=$1
  [ "$1" = pd-libfoo-libs ] && src=pd-libfoo
  echo "$1|$EPOCH|$VER|$REL|$(rpm_arch_of "$1")|$src-$VER-$REL.src.rpm"
}

index_rpm_repo() {
  createrepo_c --quiet --update "$RPM_REPO" >/dev/null || die "createrepo_c failed on $RPM_REPO"
  /usr/bin/python3 - "$FLEET_DIR/rpm-advisories.jsonl" "$RPM_REPO/updateinfo.xml" <<'PY'
import json, os, sys
from xml.sax.saxutils import quoteattr, escape
src, out = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(src)] if os.path.exists(src) else []
x = ['<?xml version="1.0" encoding="UTF-8"?>', "<updates>"]
for a in rows:
    x.append('  <update from="tests@patchdesk.invalid" status="final" type=%s version="2">' % quoteattr(a["type"]))
    x.append("    <id>%s</id>" % escape(a["id"]))
    x.append("    <title>%s</title>" % escape(a["title"]))
    x.append('    <issued date="%s 00:00:00"/>' % escape(a["issued"]))
    x.append('    <updated date="%s 00:00:00"/>' % escape(a["issued"]))
    x.append("    <rights>Copyright PatchDesk tests</rights>")
    x.append("    <release>Rocky Linux 9</release>")
    if a["severity"]:
        x.append("    <severity>%s</severity>" % escape(a["severity"]))
    x.append("    <summary>%s</summary>" % escape(a["title"]))
    x.append("    <description>%s (a PatchDesk test advisory).</description>" % escape(a["title"]))
    x.append("    <references>")
    for c in a["cves"]:
        x.append('      <reference href="https://patchdesk.invalid/%s" id=%s type="cve" title=%s/>' % (escape(c), quoteattr(c), quoteattr(c)))
    x.append('      <reference href="https://patchdesk.invalid/%s" id=%s type="self" title=%s/>' % (escape(a["id"]), quoteattr(a["id"]), quoteattr(a["id"])))
    x.append("    </references>")
    x.append("    <pkglist>")
    x.append('      <collection short="patchdesk-rocky9">')
    x.append("        <name>PatchDesk Rocky 9</name>")
    for p in a["packages"]:
        x.append("        <package name=%s epoch=%s version=%s release=%s arch=%s src=%s>" % tuple(
            quoteattr(p[k]) for k in ("name", "epoch", "version", "release", "arch", "src")))
        x.append("          <filename>%s-%s-%s.%s.rpm</filename>" % tuple(escape(p[k]) for k in ("name", "version", "release", "arch")))
        x.append("        </package>")
    x.append("      </collection>")
    x.append("    </pkglist>")
    x.append("  </update>")
x.append("</updates>")
open(out, "w").write("\n".join(x) + "\n")
PY
  modifyrepo_c --mdtype=updateinfo "$RPM_REPO/updateinfo.xml" "$RPM_REPO/repodata" >/dev/null \
    || die "modifyrepo_c failed on $RPM_REPO"
  rm -f "$RPM_REPO/updateinfo.xml"
}

build_rpm_repo() {
  [ -f "$RPM_REPO/.ok" ] && return 0
  forget_templates rpm
  log "building the local rpm repository"
  local t0=$SECONDS
  rm -rf "$RPM_REPO" "$FLEET_DIR/rpm-advisories.jsonl"
  build_rpm pd-base 9.3-1.el9
  build_rpm pd-hello 1.0-1.el9
  build_rpm pd-hello 1.0-2.el9
  build_rpm pd-hello 1.1-1.el9
  build_rpm pd-tools 2.0-1.el9
  build_rpm pd-tools 2.1-1.el9
  build_rpm pd-kernel 5.14.0-1.el9
  build_rpm pd-kernel 5.14.0-2.el9
  build_rpm pd-libfoo-libs 1:3.0-1.el9
  build_rpm pd-libfoo-libs 1:3.0-2.el9
  build_rpm pd-agent 2.0~rc1-1.el9
  build_rpm pd-agent 2.0-1.el9
  build_rpm pd-daemon 1.0-1.el9
  # The new pd-daemon needs the new library: upgrading it pulls pd-libfoo-libs along.
  build_rpm pd-daemon 1.1-1.el9 0 0 "pd-libfoo-libs >= 1:3.0-2.el9"
  add_advisory RLSA-2024:0101 security Important 2024-01-10 "Important: pd-hello security update" \
    "CVE-2024-0101" "$(rpm_pkg_ref pd-hello 1.1-1.el9)"
  add_advisory RLSA-2024:0102 security Critical 2024-01-12 "Critical: pd-kernel security update" \
    "CVE-2024-0102 CVE-2024-0103" "$(rpm_pkg_ref pd-kernel 5.14.0-2.el9)"
  add_advisory RLSA-2024:0104 security Moderate 2024-01-15 "Moderate: pd-libfoo security update" \
    "CVE-2024-0104" "$(rpm_pkg_ref pd-libfoo-libs 1:3.0-2.el9)"
  add_advisory RLSA-2024:0105 security Low 2024-01-20 "Low: pd-agent security update" \
    "CVE-2024-0105" "$(rpm_pkg_ref pd-agent 2.0-1.el9)"
  add_advisory RLBA-2024:0106 bugfix "" 2024-01-22 "pd-tools bug fix update" \
    "" "$(rpm_pkg_ref pd-tools 2.1-1.el9)"
  index_rpm_repo
  touch "$RPM_REPO/.ok"
  keep_pristine "$RPM_REPO" rpm
  log "rpm repository built in $((SECONDS - t0)) s"
}

# --- the local apt repository ------------------------------------------------------------------
# build_deb NAME VERSION SUITE [smoke-exit-code] [postinst-sleep-seconds] [Depends] [Conflicts] [web-mode]
build_deb() {
  local name=$1 version=$2 suite=$3 smoke=${4:-0} slow=${5:-0} dep=${6:-} conflicts=${7:-} webmode=${8:-ok}
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
  if [ "$name" = pd-linux-image ]; then
    # The fleet's kernel-like package: a "kernel" in /boot that the host runs after its next
    # boot (fleet.sh BOOT_SCRIPT), and the reboot request Debian's kernels leave.
    mkdir -p "$t/boot"
    echo "pd kernel $version" >"$t/boot/vmlinuz-${version//:/_}-pd"
    printf '#!/bin/sh\nset -e\ntouch /run/reboot-required\necho %s >> /run/reboot-required.pkgs\n' "$name" >"$t/DEBIAN/postinst"
    chmod 755 "$t/DEBIAN/postinst"
  fi
  if [ "$name" = pd-kernel ]; then
    # What Debian kernels do: ask for a reboot.
    printf '#!/bin/sh\nset -e\ntouch /run/reboot-required\necho pd-kernel >> /run/reboot-required.pkgs\n' >"$t/DEBIAN/postinst"
    chmod 755 "$t/DEBIAN/postinst"
  fi
  [ "$name" = pd-web ] && web_files "$t" "$version" "$webmode"
  if [ "$slow" != 0 ]; then
    # A slow maintainer script: long enough to interrupt an apply in the middle. While it runs,
    # /var/lib/pd-slow/NAME exists (tests read it from the host's root to know it is running).
    printf '#!/bin/sh\nset -e\nmkdir -p /var/lib/pd-slow\ntouch /var/lib/pd-slow/%s\nsleep %s\nrm -f /var/lib/pd-slow/%s\n' "$name" "$slow" "$name" >"$t/DEBIAN/postinst"
    chmod 755 "$t/DEBIAN/postinst"
  fi
  dpkg-deb --root-owner-group -Zgzip --build "$t" "$out" >/dev/null
  rm -rf "$t"
}

# pd-web: the fleet's small web service (issue #13's test world). A python3 HTTP server on the
# host's own address, port 8080, started by its postinst and by the host's "boot"
# (/etc/pd-boot.d/pd-web). Its mode is fixed per published version:
#   ok      answers 200; a line "INFO" per second in /var/log/pd-web.log
#   500     answers 500 to every request (and counts them: pd_web_requests_total{code="500"})
#   errors  answers 200 but writes 10 "ERROR" lines per second to /var/log/pd-web.log
#   slow    answers 200 after 300 ms
# /metrics (always 200): pd_web_requests_total{code="200"|"500"} (20 simulated requests per
# second plus the real ones, both series pre-initialised) and pd_web_flag (1 while
# /var/lib/pd-web/flag exists on the host: an alert that fires independently of the version).
web_files() {
  local t=$1 version=$2 mode=$3
  case $mode in ok|500|errors|slow) ;; *) die "--web-mode must be ok, 500, errors or slow" ;; esac
  mkdir -p "$t/usr/share/pd-web" "$t/etc/pd-boot.d"
  echo "$mode" >"$t/usr/share/pd-web/mode"
  echo "$version" >"$t/usr/share/pd-web/version"
  cat >"$t/usr/bin/pd-web" <<'PY'
#!/usr/bin/python3
# pd-web: the PatchDesk test fleet's web service (tests/fleet/fleet.sh, web_files).
import http.server, os, sys, threading, time
addr, port = sys.argv[1], int(sys.argv[2])
MODE = open("/usr/share/pd-web/mode").read().strip()
VERSION = open("/usr/share/pd-web/version").read().strip()
counts = {"200": 0, "500": 0}
lock = threading.Lock()
log = open("/var/log/pd-web.log", "a", buffering=1)
def code():
    return 500 if MODE == "500" else 200
def traffic():
    n = 0
    while True:
        with lock:
            counts[str(code())] += 2
        if MODE == "errors":
            log.write(time.strftime("%Y-%m-%dT%H:%M:%S") + " ERROR pd-web %s: request failed\n" % VERSION)
        elif n % 10 == 0:
            log.write(time.strftime("%Y-%m-%dT%H:%M:%S") + " INFO pd-web %s: serving\n" % VERSION)
        n += 1
        time.sleep(0.1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/metrics":
            flag = 1 if os.path.exists("/var/lib/pd-web/flag") else 0
            with lock:
                body = ("# TYPE pd_web_requests_total counter\n"
                        "pd_web_requests_total{code=\"200\"} %d\npd_web_requests_total{code=\"500\"} %d\n"
                        "# TYPE pd_web_flag gauge\npd_web_flag %d\n" % (counts["200"], counts["500"], flag)).encode()
            c = 200
        else:
            if MODE == "slow":
                time.sleep(0.3)
            c = code()
            with lock:
                counts[str(c)] += 1
            body = ("pd-web %s %s\n" % (VERSION, "ok" if c == 200 else "internal error")).encode()
        self.send_response(c)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
threading.Thread(target=traffic, daemon=True).start()
http.server.ThreadingHTTPServer((addr, port), H).serve_forever()
PY
  chmod 755 "$t/usr/bin/pd-web"
  cat >"$t/etc/pd-boot.d/pd-web" <<'SH'
#!/bin/sh
# pd-web's init script: the fleet host's "boot" runs every /etc/pd-boot.d/* with "start".
pidf=/run/pd-web.pid port=8080
addr=$(sed -n 's/^ListenAddress \(.*\):[0-9]*$/\1/p' /etc/ssh/sshd_config | head -n1)
# Only ever the pid of a pd-web (a stale file, or a chroot outside the host's PID namespace,
# must never name another process).
running() { [ -f $pidf ] && [ "$(cat "/proc/$(cat $pidf)/comm" 2>/dev/null)" = pd-web ]; }
case "$1" in
  start)
    running && exit 0
    setsid /usr/bin/pd-web "$addr" "$port" >>/var/log/pd-web.out 2>&1 </dev/null &
    echo $! >$pidf
    for _ in $(seq 50); do
      bash -c "exec 3<>/dev/tcp/$addr/$port" 2>/dev/null && exit 0
      sleep 0.1
    done
    echo "pd-web does not listen on $addr:$port" >&2; exit 1 ;;
  stop)
    if running; then
      pid=$(cat $pidf); kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f $pidf ;;
  restart) "$0" stop; "$0" start ;;
  *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
SH
  chmod 755 "$t/etc/pd-boot.d/pd-web"
  printf '#!/bin/sh\nset -e\n/etc/pd-boot.d/pd-web restart\n' >"$t/DEBIAN/postinst"
  printf '#!/bin/sh\nset -e\n[ "$1" = upgrade ] || /etc/pd-boot.d/pd-web stop\n' >"$t/DEBIAN/prerm"
  chmod 755 "$t/DEBIAN/postinst" "$t/DEBIAN/prerm"
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
  forget_templates deb
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
  keep_pristine "$REPO" deb
}

# A repository's pristine copy, taken when it is built: `reset` puts it back byte for byte. The
# templates' package indexes (apt lists, dnf cache) were read from this very build, and a rebuilt
# repository differs in every .deb/.rpm (build times): a host from such a template would expect
# the old sizes and fail to fetch ("File has unexpected size", "Unable to fetch some archives").
keep_pristine() {
  local r=$1 family=$2
  rm -rf "$r.pristine"
  cp -a "$r" "$r.pristine"
  if [ "$family" = rpm ]; then cp -a "$FLEET_DIR/rpm-advisories.jsonl" "$r.pristine/.advisories.jsonl"; fi
}

# Back to the repository as built (what tests published or unpublished goes). Without a pristine
# copy (a fleet made before there was one) the repository is removed: the next up builds it anew.
restore_pristine() {
  local r=$1 family=$2
  rm -rf "$r"
  [ "$family" = rpm ] && rm -f "$FLEET_DIR/rpm-advisories.jsonl"
  [ -d "$r.pristine" ] || return 0
  cp -a "$r.pristine" "$r"
  if [ "$family" = rpm ]; then mv "$r/.advisories.jsonl" "$FLEET_DIR/rpm-advisories.jsonl"; fi
}

# A repository built anew: the templates of its family read the indexes of another build, so
# they go too (remade by this up). Hosts still mounted were made from them: they would fail the
# same way, and a light host's lower layer cannot be removed under it.
forget_templates() {
  local family=$1 sel
  if [ "$family" = rpm ]; then sel=(-name 'rpm-*'); else sel=(! -name 'rpm-*'); fi
  [ -d "$FLEET_DIR/templates" ] || return 0
  [ -n "$(find "$FLEET_DIR/templates" -mindepth 1 -maxdepth 1 "${sel[@]}" -print -quit)" ] || return 0
  if mounted_under "$FLEET_DIR/hosts/"; then
    die "the $family repository is missing while hosts made from it are up: run fleet.sh reset, then up"
  fi
  log "the $family repository is built anew: its host templates are remade too"
  find "$FLEET_DIR/templates" -mindepth 1 -maxdepth 1 "${sel[@]}" -exec rm -rf {} +
}

# --- client keys -------------------------------------------------------------------------------
build_keys() {
  mkdir -p "$FLEET_DIR/keys"; chmod 700 "$FLEET_DIR/keys"
  [ -f "$FLEET_DIR/keys/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C patchdesk-fleet -f "$FLEET_DIR/keys/id_ed25519"
  [ -f "$FLEET_DIR/keys/id_ed25519_pass" ] || ssh-keygen -q -t ed25519 -N "$KEY_PASSPHRASE" -C patchdesk-fleet-pass -f "$FLEET_DIR/keys/id_ed25519_pass"
}

# --- hosts -------------------------------------------------------------------------------------
is_mounted() { findmnt -rn "$1" >/dev/null 2>&1; }

# The base root and the repository (and where it is mounted) of a host, by its name.
base_of() { if is_rpm_host "$1"; then echo "$RPM_BASE"; else echo "$BASE"; fi; }
repo_of() { if is_rpm_host "$1"; then echo "$RPM_REPO"; else echo "$REPO"; fi; }
repo_mount_of() { if is_rpm_host "$1"; then echo /srv/patchdesk-rpm-repo; else echo /srv/patchdesk-repo; fi; }

mount_host() {
  local name=$1 d m; d=$(host_dir "$name"); m="$d/root$(repo_mount_of "$name")"
  mkdir -p "$d/upper" "$d/work" "$d/root"
  local lower; lower=$(base_of "$name")
  if is_light "$name"; then
    local tpl; tpl=$(template_of "$(index_of "$name")")
    [ -d "$tpl" ] || die "$name: no template $tpl (hosts 1 and 3 build them)"
    lower="$tpl:$lower"
  fi
  is_mounted "$d/root" || mount -t overlay overlay -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work" "$d/root"
  if ! is_mounted "$m"; then
    mount --bind "$(repo_of "$name")" "$m"
    mount -o remount,bind,ro "$m"
  fi
}

# write_sshd_config NAME ADDRESS PERMIT-ROOT-LOGIN ROOT
write_sshd_config() {
  local name=$1 addr=$2 permit=$3 root=$4
  cat >"$root/etc/ssh/sshd_config" <<EOF
# PatchDesk test fleet host $name
ListenAddress $addr:$PORT
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
  install_python_apt "$root"   # first: the package set's dpkg.log lines stay the last ones
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

# python3-apt (with python-apt-common and distro-info-data, 229 kB of .debs, 0.8 MB installed),
# what Ansible's package_facts needs on a Debian host: the benchmark's Ansible baseline
# (bench/fleet.sh) runs it on every host. It goes into each package-set template, so light hosts
# share it (no per-host cost). The hosts' apt sees only the fleet repository: the .debs come from
# this machine's apt (bookworm, like the hosts), fetched once into the cache.
PY_APT_DEBS="$CACHE/python3-apt-debs"
# Best effort: only the benchmark needs it (bench/fleet.sh checks the hosts and says what is
# missing), so a machine whose apt is not bookworm's (an Ubuntu laptop: another python3) or that
# is offline still gets a working test fleet, with a warning.
install_python_apt() {
  local root=$1 tmp out
  if [ ! -f "$PY_APT_DEBS/.ok" ]; then
    if [ "$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")" != bookworm ]; then
      log "warning: this machine's apt is not Debian bookworm's: no python3-apt on the hosts (only Ansible's package_facts in bench/fleet.sh needs it)"
      return 0
    fi
    tmp=$(mktemp -d "$CACHE/python3-apt-debs.XXXXXX")
    if ! (cd "$tmp" && apt-get download -q python3-apt python-apt-common distro-info-data >/dev/null 2>&1); then
      rm -rf "$tmp"
      log "warning: could not download python3-apt with this machine's apt: no python3-apt on the hosts (only Ansible's package_facts in bench/fleet.sh needs it)"
      return 0
    fi
    touch "$tmp/.ok"
    mv -T "$tmp" "$PY_APT_DEBS" 2>/dev/null || rm -rf "$tmp"
  fi
  mkdir -p "$root/tmp/pd-py-apt"
  cp "$PY_APT_DEBS"/*.deb "$root/tmp/pd-py-apt/"
  if ! out=$(chroot "$root" sh -c 'dpkg -i /tmp/pd-py-apt/*.deb' 2>&1); then
    # Leave no half-configured package behind (dpkg --audit must stay clean for the tests).
    chroot "$root" dpkg --purge python3-apt python-apt-common distro-info-data >/dev/null 2>&1 || true
    log "warning: python3-apt did not install in $root (only bench/fleet.sh needs it): $out"
  fi
  rm -rf "$root/tmp/pd-py-apt"
}

create_host() {
  local i=$1 name d root
  name=$(name_of "$i"); d=$(host_dir "$name"); root="$d/root"
  [ -f "$d/.created" ] && return 0
  is_light "$name" || log "creating $name"
  unmount_host "$name"; rm -rf "$d"; mkdir -p "$d/upper"
  local tpl; tpl=$(template_of "$i")
  if is_light "$name"; then
    mount_host "$name"     # the template is a shared lower layer: nothing to copy
  elif [ -d "$tpl" ]; then
    (cd "$tpl" && tar -cf - .) | (cd "$d/upper" && tar -xpf -)
    mount_host "$name"
  else
    mount_host "$name"
    install_set "$i" "$root"
  fi
  echo "$name" >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n%s %s\n' "$(addr_of "$i")" "$name" >"$root/etc/hosts"
  host_keys "$root"
  local permit=prohibit-password
  [ "$i" -eq 3 ] && permit=no
  write_sshd_config "$name" "$(addr_of "$i")" "$permit" "$root"
  authorize_keys "$root"
  if [ "$(reboot_of "$i")" = true ]; then
    touch "$root/run/reboot-required"; echo pd-kernel >"$root/run/reboot-required.pkgs"
  fi
  touch "$d/.created"
}

authorize_keys() {
  local root=$1 home
  for home in root home/ops; do
    cat "$FLEET_DIR/keys/id_ed25519.pub" "$FLEET_DIR/keys/id_ed25519_pass.pub" >"$root/$home/.ssh/authorized_keys"
    chmod 600 "$root/$home/.ssh/authorized_keys"
  done
  chroot "$root" chown -R ops:ops /home/ops/.ssh
}

# rpm hosts: the same shape (overlay, own keys, own sshd), packages installed with dnf from the
# rpm repository; identical package sets are installed once and copied, as for Debian.
rpm_template_of() { echo "$FLEET_DIR/templates/rpm-$(rpm_set_of "$1" | md5sum | cut -c1-12)"; }

install_rpm_set() {
  local k=$1 root=$2 tpl
  tpl=$(rpm_template_of "$k")
  # shellcheck disable=SC2046
  chroot "$root" dnf -y -q --setopt=install_weak_deps=False install $(rpm_set_of "$k") >"$root/tmp/install.log" 2>&1 \
    || { cat "$root/tmp/install.log" >&2; die "installing '$(rpm_set_of "$k")' failed in $(rpm_name_of "$k")"; }
  rm -f "$root/tmp/install.log"
  mkdir -p "$tpl.tmp"
  (cd "$(dirname "$root")/upper" && tar -cf - .) | (cd "$tpl.tmp" && tar -xpf -)
  mv "$tpl.tmp" "$tpl"
}

create_rpm_host() {
  local k=$1 name d root
  name=$(rpm_name_of "$k"); d=$(host_dir "$name"); root="$d/root"
  [ -f "$d/.created" ] && return 0
  log "creating $name"
  unmount_host "$name"; rm -rf "$d"; mkdir -p "$d/upper"
  local tpl; tpl=$(rpm_template_of "$k")
  if [ -d "$tpl" ]; then
    (cd "$tpl" && tar -cf - .) | (cd "$d/upper" && tar -xpf -)
    mount_host "$name"
  else
    mount_host "$name"
    install_rpm_set "$k" "$root"
  fi
  echo "$name" >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n%s %s\n' "$(rpm_addr_of "$k")" "$name" >"$root/etc/hosts"
  # Debian's dnf-plugins-core enables show-leaves ("New leaves:" after each transaction); RHEL
  # does not ship it.
  printf '[main]\nenabled=0\n' >"$root/etc/dnf/plugins/show-leaves.conf"
  host_keys "$root"
  write_sshd_config "$name" "$(rpm_addr_of "$k")" prohibit-password "$root"
  authorize_keys "$root"
  touch "$d/.created"
}

# A zombie (ended, not yet reaped by PID 1, which may take seconds in a sandbox) is not alive.
proc_alive() { kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]; }
pid_alive() { [ -f "$1" ] && proc_alive "$(cat "$1")"; }

# A host's "boot", PID 1 of its PID namespace (outside the chroot): a new boot id
# (/proc/sys/kernel/random/boot_id) and as "running kernel" (/proc/sys/kernel/osrelease) the
# newest /boot/vmlinuz-* installed at that boot (none: the machine's own), then start every
# /etc/pd-boot.d/* service, then sshd; a `reboot` on the host (our shim writes /run/pd-reboot)
# ends every process of the host (kill -1 from PID 1 spares only itself), clears /run's reboot
# flags as a real reboot does, waits /run/pd-reboot's seconds (default 1), and boots again. With
# /etc/pd-boot-hang present the host never comes back (sshd does not start). SIGTERM from
# outside (stop-host) ends the host.
# /proc/1 is looked up at once: a proc inode's times are set at its first lookup, and dnf
# needs-restarting takes the boot time from /proc/1 (a first lookup after an update would say
# the host booted after it).
BOOT_SCRIPT='hostname "$1"; r=$2; mount -t proc proc "$r/proc"; stat "$r/proc/1" >/dev/null 2>&1
trap "kill -TERM -1 2>/dev/null; exit 0" TERM
while :; do
  cat /proc/sys/kernel/random/uuid >"$r/run/.pd-boot-id"
  umount "$r/proc/sys/kernel/random/boot_id" 2>/dev/null
  mount --bind "$r/run/.pd-boot-id" "$r/proc/sys/kernel/random/boot_id"
  k=$(ls "$r"/boot/vmlinuz-* 2>/dev/null | sed "s|.*/vmlinuz-||" | sort -V | tail -n1)
  umount "$r/proc/sys/kernel/osrelease" 2>/dev/null
  if [ -n "$k" ]; then echo "$k" >"$r/run/.pd-osrelease"; mount --bind "$r/run/.pd-osrelease" "$r/proc/sys/kernel/osrelease"; fi
  for s in "$r"/etc/pd-boot.d/*; do [ -x "$s" ] && chroot "$r" "${s#"$r"}" start; done
  chroot "$r" /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config &
  sshd=$!
  while kill -0 "$sshd" 2>/dev/null && [ ! -e "$r/run/pd-reboot" ]; do sleep 0.3; done
  [ -e "$r/run/pd-reboot" ] || exit 0
  down=$(tr -cd 0-9 <"$r/run/pd-reboot"); echo "$(date -u +%FT%TZ) reboot (down ${down:-1} s)"
  kill -TERM -1 2>/dev/null; sleep 0.3; kill -KILL -1 2>/dev/null; wait
  rm -f "$r/run/pd-reboot" "$r/run/reboot-required" "$r/run/reboot-required.pkgs" "$r"/run/*.pid
  sleep "${down:-1}"
  while [ -e "$r/etc/pd-boot-hang" ]; do sleep 1; done
done'

# The `reboot` a fleet host has (minbase has none): ask PID 1 for a reboot, as systemd would.
install_reboot_shim() {
  local root=$1
  [ -x "$root/usr/local/sbin/reboot" ] && return 0
  mkdir -p "$root/usr/local/sbin"
  printf '#!/bin/sh\n# The fleet host'"'"'s reboot: PID 1 (fleet.sh BOOT_SCRIPT) restarts every service and sshd.\necho "${PD_REBOOT_DOWN:-1}" >/run/pd-reboot\n' >"$root/usr/local/sbin/reboot"
  chmod 755 "$root/usr/local/sbin/reboot"
}

# --- light hosts: one listener for all of them ------------------------------------------------
LIGHT_PID="$FLEET_DIR/light-sshd.pid"
light_listener_alive() { pid_alive "$LIGHT_PID"; }

# Write the listener's table (every mounted light host up to the fleet's size that is not
# down), start the listener or make it read the table again, and wait until it has.
light_sync() {
  local n=${1:-$(cat "$FLEET_DIR/size" 2>/dev/null || echo 0)} i h d
  local table="$FLEET_DIR/$LIGHT_TABLE_NAME"
  : >"$table.new"
  for ((i = LIGHT_FROM; i <= n; i++)); do
    h=$(name_of "$i"); d=$(host_dir "$h")
    [ -f "$d/.created" ] && [ ! -e "$d/down" ] || continue
    echo "$h $(addr_of "$i") $PORT $d/root $d/sshd.log" >>"$table.new"
  done
  mv "$table.new" "$table"
  rm -f "$LIGHT_PID.ready"
  if light_listener_alive; then
    kill -HUP "$(cat "$LIGHT_PID")"
  elif [ -s "$table" ]; then
    setsid /usr/bin/python3 "$(dirname "$(readlink -f "$0")")/light-sshd.py" "$table" "$LIGHT_PID" \
      >>"$FLEET_DIR/light-sshd.log" 2>&1 </dev/null &
  else
    return 0
  fi
  for _ in $(seq 600); do [ -f "$LIGHT_PID.ready" ] && return 0; sleep 0.05; done
  die "the light hosts' listener did not start; see $FLEET_DIR/light-sshd.log"
}

light_stop_listener() {
  if light_listener_alive; then
    local pid; pid=$(cat "$LIGHT_PID")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do proc_alive "$pid" || break; sleep 0.05; done
  fi
  rm -f "$LIGHT_PID" "$LIGHT_PID.ready"
}

# End the sessions of light hosts (every process whose root is one of the hosts' roots), in one
# pass over /proc.
light_kill_sessions() {
  [ $# -gt 0 ] || return 0
  local -A roots=()
  local h p r
  for h in "$@"; do roots["$(readlink -f "$(host_dir "$h")/root")"]=1; done
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    [ -n "${roots[$r]:-}" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  return 0
}

# Whether a host answers (full: its boot process lives; light: the listener lives, not down).
host_running() {
  local d; d=$(host_dir "$1")
  if is_light "$1"; then light_listener_alive && [ ! -e "$d/down" ]; else pid_alive "$d/pid"; fi
}

wait_listening() {
  local addr=$1
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

start_host() {
  local name=$1 d root; d=$(host_dir "$name"); root="$d/root"
  [ -f "$d/.created" ] || die "no host $name"
  mount_host "$name"
  if is_light "$name"; then
    rm -f "$d/down"
    light_sync
    wait_listening "$(addr_of "$(index_of "$name")"):$PORT" || die "$name does not listen"
    return 0
  fi
  pid_alive "$d/pid" && return 0
  install_reboot_shim "$root"
  rm -f "$root/run/pd-reboot" "$root/etc/pd-boot-hang"
  # Own mount, UTS and PID namespaces; --kill-child ends the host when the unshare process is killed.
  setsid unshare --mount --uts --pid --fork --kill-child -- \
    sh -c "$BOOT_SCRIPT" sh "$name" "$root" >>"$d/sshd.log" 2>&1 </dev/null &
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
  if is_light "$1"; then
    [ -f "$d/.created" ] || return 0
    touch "$d/down"
    light_listener_alive && light_sync
    light_kill_sessions "$1"
    return 0
  fi
  if pid_alive "$d/pid"; then
    local pid child; pid=$(cat "$d/pid")
    # unshare blocks SIGTERM while it waits for its child: end the child (the host's sshd, PID 1
    # of the host's namespace) first, and unshare follows at once.
    for child in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true); do
      kill "$child" 2>/dev/null || true
    done
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do proc_alive "$pid" || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$d/pid"
  # Until the old sshd has let go of its address: a start right after must not take the dying
  # one's answer for its own (and then fail to listen).
  local addr; addr=$(sed -n 's/^ListenAddress //p' "$d/root/etc/ssh/sshd_config" 2>/dev/null || true)
  if [ -n "$addr" ]; then
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null || break
      sleep 0.05
    done
  fi
}

unmount_host() {
  local root m; root="$(host_dir "$1")/root"
  for m in "$root/srv/patchdesk-repo" "$root/srv/patchdesk-rpm-repo"; do
    is_mounted "$m" && { umount "$m" || umount -l "$m"; }
  done
  is_mounted "$root" && { umount "$root" || umount -l "$root"; }
  return 0
}

all_hosts() { [ -d "$FLEET_DIR/hosts" ] && ls "$FLEET_DIR/hosts" | sort; }

write_manifest() {
  local n=$1 m=${2:-0}
  python3 - "$FLEET_DIR" "$n" "$PORT" "$KEY_PASSPHRASE" "$FLEET_NET" "$m" "$RPM_OFFSET" <<'PY'
import json, os, sys, subprocess
d, n, port, passphrase, net = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
nrpm, rpm_offset = int(sys.argv[6]), int(sys.argv[7])
def sh(*a): return subprocess.check_output(["bash", os.environ["FLEET_SCRIPT"], *a], text=True).strip()
big = os.environ.get("FLEET_BIG_NET", "127.80")
def addr_of(i):   # fleet.sh addr_of
    return f"{net}.{i}" if i <= 99 else f"{big}.{(i - 100) // 200}.{(i - 100) % 200 + 1}"
def groups_of(i):   # fleet.sh groups_of
    g = ["canary"] if i in (1, 2) else []
    g.append("web" if i % 2 else "db")
    if i in (1, 2) and "web" not in g:
        g.append("web")
    return g + ["office"]
hosts = []
for i in range(1, n + 1):
    name = f"pd-{i:02d}"
    hosts.append({
        "name": name, "address": addr_of(i), "port": port,
        "user": "ops" if i == 3 else "root",
        "environment": "non-prod" if i in (1, 2) else "prod",
        "groups": groups_of(i),
        "running": i != 6,
        "root": f"{d}/hosts/{name}/root",
        "reboot_required": i in (2, 4),
        "family": "deb",
    })
for k in range(1, nrpm + 1):
    name = f"pd-r{k}"
    hosts.append({
        "name": name, "address": f"{net}.{rpm_offset + k}", "port": port,
        "user": "root",
        "environment": sh("_rpm_env", str(k)),
        "groups": sh("_rpm_groups", str(k)).split(),
        "running": True,
        "root": f"{d}/hosts/{name}/root",
        # dnf needs-restarting -r: no package of its reboot list was installed after boot.
        "reboot_required": False,
        "family": "rpm",
    })
m = {"dir": d, "port": port, "known_hosts": f"{d}/known_hosts", "key": f"{d}/keys/id_ed25519",
     "key_pass": f"{d}/keys/id_ed25519_pass", "key_passphrase": passphrase, "repo": f"{d}/repo",
     "rpm_repo": f"{d}/rpm-repo" if nrpm else None,
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
  local n=6 m=0
  if [ $# -gt 0 ] && [[ "$1" != --* ]]; then n=$1; shift; fi
  while [ $# -gt 0 ]; do
    case $1 in
      --rpm) m=${2:-}; shift 2 || die "--rpm needs a number" ;;
      *) die "up: unknown option $1" ;;
    esac
  done
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 2000 ] || die "N must be 1..2000"
  [[ "$m" =~ ^[0-9]+$ ]] && [ "$m" -le 99 ] || die "the number of rpm hosts must be 0..99"
  [ "$m" -eq 0 ] || [ "$n" -le "$RPM_OFFSET" ] || die "with rpm hosts N must be at most $RPM_OFFSET (rpm hosts use .$((RPM_OFFSET + 1)) and up)"
  [[ "$FLEET_NET" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "FLEET_NET must be a loopback /24 such as 127.77.0"
  [[ "$FLEET_BIG_NET" =~ ^127\.[0-9]{1,3}$ ]] || die "FLEET_BIG_NET must be a loopback /16 such as 127.80"
  ensure_tools
  [ "$m" -eq 0 ] || ensure_rpm_tools
  build_base
  [ "$m" -eq 0 ] || build_rpm_base
  mkdir -p "$FLEET_DIR/hosts" "$FLEET_DIR/templates"
  build_keys
  build_repo
  [ "$m" -eq 0 ] || build_rpm_repo
  # Hosts above N (rpm hosts above M) are stopped and unmounted (their files are kept for a later, larger `up`).
  local h i gone=()
  for h in $(all_hosts); do
    if is_rpm_host "$h"; then
      [ "$(rpm_index_of "$h")" -gt "$m" ] && { stop_host "$h"; unmount_host "$h"; }
    else
      i=$(index_of "$h")
      if [ "$i" -gt "$n" ]; then
        # Light hosts leave the listener's table all at once below.
        if is_light "$h"; then gone+=("$h"); else stop_host "$h"; unmount_host "$h"; fi
      fi
    fi
  done
  for i in $(seq "$n"); do create_host "$i"; done
  for i in $(seq "$m"); do create_rpm_host "$i"; done
  for i in $(seq "$n"); do
    h=$(name_of "$i")
    mount_host "$h"
    if is_light "$h"; then rm -f "$(host_dir "$h")/down"; continue; fi
    if [ "$(running_of "$i")" = true ]; then start_host "$h"; else stop_host "$h"; fi
  done
  light_sync "$n"
  [ -s "$FLEET_DIR/$LIGHT_TABLE_NAME" ] || light_stop_listener
  light_kill_sessions "${gone[@]}"
  for h in "${gone[@]}"; do unmount_host "$h"; done
  for i in $(seq "$m"); do h=$(rpm_name_of "$i"); mount_host "$h"; start_host "$h"; done
  echo "$n" >"$FLEET_DIR/size"
  echo "$m" >"$FLEET_DIR/size-rpm"
  FLEET_SCRIPT="$0" write_manifest "$n" "$m"
  local rpm_note=""; [ "$m" -eq 0 ] || rpm_note="$m rpm, "
  log "up: $((n + m)) hosts (${rpm_note}$(grep -c '"running": true' "$FLEET_DIR/fleet.json") running); manifest $FLEET_DIR/fleet.json"
}

cmd_down() {
  local h
  local light=()
  light_stop_listener
  for h in $(all_hosts); do is_light "$h" && light+=("$h"); done
  light_kill_sessions "${light[@]}"
  for h in $(all_hosts); do
    is_light "$h" || stop_host "$h"
    unmount_host "$h"
  done
  log "down: no fleet sshd running, nothing mounted"
}

# Nothing may be removed while a host's root (an overlay over the shared base and templates) or a
# repository bind mount is still mounted under the fleet: that would delete through it.
mounted_under() { awk -v d="$1" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; }
assert_unmounted() {
  if mounted_under "$FLEET_DIR/"; then
    die "something under $FLEET_DIR is still mounted (see /proc/self/mounts); nothing was removed"
  fi
}

# Pristine hosts and repositories for the next `up`: the hosts' own layers go (what tests
# installed there) and both repositories are as built (what tests published goes); keys,
# templates and monitoring's files stay.
cmd_reset() {
  cmd_down
  assert_unmounted
  rm -rf "$FLEET_DIR/hosts" "$FLEET_DIR/$LIGHT_TABLE_NAME"
  restore_pristine "$REPO" deb
  restore_pristine "$RPM_REPO" rpm
  log "reset: hosts removed, repositories as built; the next up creates the hosts anew"
}

cmd_status() {
  local h d
  for h in $(all_hosts); do
    d=$(host_dir "$h")
    printf '%s %s %s\n' "$h" "$(sed -n 's/^ListenAddress //p' "$d/root/etc/ssh/sshd_config" 2>/dev/null || echo '?')" \
      "$(host_running "$h" && echo running || echo stopped)"
  done
}

cmd_exec() {
  local name=$1; shift
  [ "${1:-}" = "--" ] && shift
  local root d; d=$(host_dir "$name"); root="$d/root"
  is_mounted "$root" || die "$name is not mounted (run fleet.sh up)"
  # A running rpm host: inside its namespaces, so /proc is the host's own (dnf
  # needs-restarting reads the boot time from /proc/1), chrooted into its root (the namespace's
  # first process is the boot script, which runs outside the root: never enter its root).
  if is_rpm_host "$name" && pid_alive "$d/pid"; then
    local ns; ns=$(cat "/proc/$(cat "$d/pid")/task/$(cat "$d/pid")/children" 2>/dev/null | awk '{print $1}')
    if [ -n "$ns" ]; then
      nsenter --target "$ns" --mount --uts --pid -- chroot "$root" \
        env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"
      return
    fi
  fi
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C chroot "$root" "$@"
}

# reboot NAME [--hang] [--down SECS]: reboot a host from outside (as its `reboot` would); with
# --hang it never comes back (until `start-host`); --wait: until sshd listens again.
cmd_reboot() {
  local name=$1 hang=false down=1 wait=false d root; shift; d=$(host_dir "$name"); root="$d/root"
  while [ $# -gt 0 ]; do
    case $1 in
      --hang) hang=true; shift ;;
      --down) down=$2; shift 2 ;;
      --wait) wait=true; shift ;;
      *) die "reboot: unknown option $1" ;;
    esac
  done
  [[ "$down" =~ ^[0-9]+$ ]] || die "--down takes whole seconds"
  is_light "$name" && die "$name is a light host: light hosts do not reboot (hosts 1..$((LIGHT_FROM - 1)) do)"
  pid_alive "$d/pid" || die "$name is not running"
  if $hang; then touch "$root/etc/pd-boot-hang"; else rm -f "$root/etc/pd-boot-hang"; fi
  echo "$down" >"$root/run/pd-reboot"
  $wait || return 0
  local addr; addr=$(sed -n 's/^ListenAddress //p' "$root/etc/ssh/sshd_config")
  for _ in $(seq 100); do [ -e "$root/run/pd-reboot" ] || break; sleep 0.1; done
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$name did not come back"
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
  if host_running "$name"; then stop_host "$name"; start_host "$name"; fi
  log "rekey $name ${mode:-done}"
}

# rpm when only the rpm repository knows a package of that name, else deb.
family_by_name() {
  if compgen -G "$RPM_REPO/Packages/$1-[0-9]*.rpm" >/dev/null && ! compgen -G "$REPO/pool/*/${1}_*.deb" >/dev/null; then
    echo rpm
  else
    echo deb
  fi
}

cmd_unpublish() {
  local pkg=$1 version=$2 family="" f; shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --family) family=$2; shift 2 ;;
      *) die "unpublish: unknown option $1" ;;
    esac
  done
  [[ "$pkg" =~ ^pd-[a-z0-9.+-]+$ ]] || die "package names of the fleet start with pd-"
  if [ -z "$family" ]; then
    family=$(family_by_name "$pkg")
    # An rpm version (a release with a dist tag) that only the rpm repository has.
    if [ "$family" = deb ] && [[ "$version" == *-* ]]; then
      split_evr "$version"
      compgen -G "$RPM_REPO/Packages/$pkg-$VER-$REL.*.rpm" >/dev/null && family=rpm
    fi
  fi
  case $family in
    deb)
      for f in "$REPO"/pool/*/"${pkg}_${version//:/%3a}_all.deb"; do [ -e "$f" ] && rm -f "$f"; done
      index_repo
      log "unpublished $pkg $version (hosts forget it after apt-get update)" ;;
    rpm)
      split_evr "$version"
      rm -f "$RPM_REPO/Packages/$pkg-$VER-$REL".*.rpm
      index_rpm_repo
      log "unpublished $pkg $version from the rpm repository (hosts forget it after dnf makecache --refresh)" ;;
    *) die "family must be deb or rpm" ;;
  esac
}

# A package version that is installed on a host but offered by no repository (no downgrade path).
cmd_local_install() {
  local host=$1 pkg=$2 version=$3 t
  [[ "$pkg" =~ ^pd-[a-z0-9.+-]+$ ]] || die "package names of the fleet start with pd-"
  t=$(mktemp -d)
  if is_rpm_host "$host"; then
    RPM_REPO="$t" build_rpm "$pkg" "$version"
    cp "$t/Packages/"*.rpm "$(host_dir "$host")/root/tmp/local.rpm"
    rm -rf "$t"
    cmd_exec "$host" -- rpm -U --force-debian --oldpackage --replacepkgs --nodeps /tmp/local.rpm >/dev/null
    rm -f "$(host_dir "$host")/root/tmp/local.rpm"
  else
    REPO="$t" build_deb "$pkg" "$version" local
    cp "$t/pool/local/"*.deb "$(host_dir "$host")/root/tmp/local.deb"
    rm -rf "$t"
    cmd_exec "$host" -- dpkg -i /tmp/local.deb >/dev/null
    rm -f "$(host_dir "$host")/root/tmp/local.deb"
  fi
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
  host_running "$name" && was_running=true
  stop_host "$name"; unmount_host "$name"
  rm -rf "$d/upper" "$d/work"
  cp -a "$d/upper.snap" "$d/upper"
  mount_host "$name"
  if $was_running; then start_host "$name"; fi
  log "$name restored from its snapshot"
}

cmd_publish() {
  local pkg=$1 version=$2 suite=bookworm smoke=0 slow=0 depends="" conflicts="" family="" requires=""; shift 2
  local advisory="" atype="" severity="" issued cves=() webmode=ok
  issued=$(date -u +%Y-%m-%d)
  while [ $# -gt 0 ]; do
    case $1 in
      --suite) suite=$2; shift 2 ;;
      --smoke-fail) smoke=1; shift ;;
      --slow) slow=4; shift ;;
      --sleep) slow=$2; shift 2 ;;
      --depends) depends=$2; shift 2 ;;
      --conflicts) conflicts=$2; shift 2 ;;
      --family) family=$2; shift 2 ;;
      --requires) requires=$2; shift 2 ;;
      --advisory) advisory=$2; shift 2 ;;
      --type) atype=$2; shift 2 ;;
      --severity) severity=$2; shift 2 ;;
      --cve) cves+=("$2"); shift 2 ;;
      --issued) issued=$2; shift 2 ;;
      --web-mode) webmode=$2; shift 2 ;;
      *) die "publish: unknown option $1" ;;
    esac
  done
  [[ "$pkg" =~ ^pd-[a-z0-9.+-]+$ ]] || die "package names of the fleet start with pd-"
  [[ "$slow" =~ ^[0-9]+$ ]] || die "--sleep takes whole seconds"
  [ -n "$family" ] || family=$(family_by_name "$pkg")
  if [ "$family" = rpm ]; then
    [ -f "$RPM_REPO/.ok" ] || die "no rpm repository yet: run fleet.sh up N --rpm M first"
    [ -z "$depends$conflicts" ] || die "--depends/--conflicts are Debian fields: use --requires for an rpm"
    local rpmdep='^[A-Za-z0-9._+:~^ <>=,-]*$'
    [[ "$requires" =~ $rpmdep ]] || die "--requires: an rpm dependency such as 'pd-libfoo-libs >= 1:3.0-2.el9'"
    build_rpm "$pkg" "$version" "$smoke" "$slow" "$requires"
    if [ -n "$advisory" ]; then
      [[ "$advisory" =~ ^[A-Z]+-[0-9]{4}:[0-9]+$ ]] || die "advisory ids look like RLSA-2026:0001"
      [[ "$issued" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || die "--issued takes YYYY-MM-DD"
      [ -n "$atype" ] || { [[ "$advisory" == ??SA-* || -n "$severity" ]] && atype=security || atype=bugfix; }
      case $severity in ""|Critical|Important|Moderate|Low) ;; *) die "severity must be Critical, Important, Moderate or Low" ;; esac
      add_advisory "$advisory" "$atype" "$severity" "$issued" "${severity:+$severity: }$pkg update" \
        "${cves[*]}" "$(rpm_pkg_ref "$pkg" "$version")"
    fi
    index_rpm_repo
    log "published $pkg $version in the rpm repository${advisory:+ with $advisory} (hosts see it after dnf makecache --refresh)"
    return
  fi
  [ "$family" = deb ] || die "family must be deb or rpm"
  case $suite in bookworm|bookworm-security) ;; *) die "suite must be bookworm or bookworm-security" ;; esac
  local relation='^[a-z0-9.+:~|,()<>= -]*$'
  [[ "$depends$conflicts" =~ $relation ]] || die "--depends/--conflicts: a Debian relationship field such as 'pd-libfoo1 (>= 1:3.1-1)'"
  [ "$webmode" = ok ] || [ "$pkg" = pd-web ] || die "--web-mode is for pd-web"
  build_deb "$pkg" "$version" "$suite" "$smoke" "$slow" "$depends" "$conflicts" "$webmode"
  index_repo
  log "published $pkg $version in $suite (hosts see it after apt-get update)"
}

FLEET_SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
export FLEET_SCRIPT
case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  destroy) cmd_down; assert_unmounted; rm -rf "$FLEET_DIR"; log "destroyed $FLEET_DIR" ;;
  reset) cmd_reset ;;
  status) cmd_status ;;
  stop-host) stop_host "$2" ;;
  reboot) shift; cmd_reboot "$@" ;;
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
  _rpm_groups) rpm_groups_of "$2" ;;
  _rpm_env) rpm_env_of "$2" ;;
  _rpm_base) ensure_tools; ensure_rpm_tools; build_rpm_base ;;
  *) sed -n '2,/^set -euo pipefail/{/^set /!p}' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
