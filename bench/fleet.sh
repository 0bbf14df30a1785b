#!/usr/bin/env bash
# Fleet scan benchmark (issue #16), side by side in one run at 100, 500 and 1,000 hosts of the
# light test fleet (`tests/fleet/fleet.sh up 1000`):
#
#   host-side   the scan script run in every host's root without SSH (chroot), in parallel: the
#               work no scanner can avoid
#   openssh     the same script over one `ssh HOST sh -s` per host (OpenSSH client), in parallel
#   patchdesk   `patchdesk scan --all` into a fresh database
#   ansible     equal work: package_facts (the package list) + `apt-get -s dist-upgrade` (the
#               pending-update listing), ansible-playbook with as many forks
#
# each as a full scan and as an unchanged rescan (the script given the host's state fingerprint:
# what PatchDesk's rescan does; Ansible has no such shortcut, so its rescan is its full run).
# Every tool runs BENCH_PAR hosts at once (default 32, PatchDesk's default concurrency). Nothing is
# timed whose output is not checked: every host's output must be complete (`@@PD end`, the
# package listing and the pending-update simulation exited 0, `@@PD unchanged` on a rescan),
# PatchDesk's JSON summary must list every host ok and its database must hold every host's
# packages, and Ansible's recap must show every host ok=2 with no failed or unreachable host;
# otherwise the bench stops with an error.
#
# CPU: user + sys of everything the tool started on this machine, read from a cpuacct cgroup the
# command runs in (it also counts processes that leave their parent, such as ssh's ControlPersist
# masters). For host-side that is the hosts' own work; for the other three it is the controller's
# (the hosts' sshd and scripts are started by the fleet's listener, outside the cgroup).
#
#   bench/fleet.sh [SIZES...]      default: 100 500 1000
#   BENCH_RUNS=3                   best of N for each figure
#   BENCH_ANSIBLE_RUNS_BIG=1       Ansible runs at sizes above 100 (it is slow; best of fewer)
#   BENCH_PAR=32                   hosts at once, for every tool
#   PATCHDESK_BIN=...              the CLI (default: target/release/patchdesk, built here)
#
# Prints the tables and writes bench/results/fleet-<date>.txt (every run's figures and `uptime`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(100 500 1000)
FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
CACHE=${PATCHDESK_CACHE:-/var/cache/patchdesk}
runs=${BENCH_RUNS:-3}
ansible_runs_big=${BENCH_ANSIBLE_RUNS_BIG:-1}
par=${BENCH_PAR:-32}
die() { echo "bench: error: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (chroot into the hosts' roots, cgroups)"

if [ -z "${PATCHDESK_BIN:-}" ]; then
  cargo build --release -q --locked -p patchdesk-cli
  PATCHDESK_BIN="$root/target/release/patchdesk"
fi
bin=$PATCHDESK_BIN
[ -x "$bin" ] || die "no CLI at $bin"

venv="$CACHE/ansible-venv"
if [ ! -x "$venv/bin/ansible-playbook" ]; then
  echo "bench: installing ansible-core into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q ansible-core
fi

max=0; for n in "${sizes[@]}"; do [ "$n" -gt "$max" ] && max=$n; done
have=$(cat "$FLEET_DIR/size" 2>/dev/null || echo 0)
[ "$have" -ge "$max" ] || tests/fleet/fleet.sh up "$max" >/dev/null
tests/fleet/fleet.sh exec pd-07 -- python3 -c 'import apt' 2>/dev/null \
  || die "the fleet's hosts have no python3-apt (Ansible's package_facts needs it): tests/fleet/fleet.sh destroy, then up again"

work=$(mktemp -d /tmp/pd-bench.XXXXXX)
cg=/sys/fs/cgroup/cpuacct/pd-bench-$$
mkdir "$cg"
nspid=""
cleanup() {
  [ -z "$nspid" ] || kill "$nspid" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    sleep 0.3; rmdir "$cg" 2>/dev/null && break
  done
  rm -rf "$work"
}
trap cleanup EXIT
script="$work/scan.sh"
"$bin" --db "$work/script.db" scan-script >"$script"
grep -q '@@PD end' "$script" || die "scan-script printed no script"

stamp=$(date +%Y%m%d-%H%M)
out="bench/results/fleet-$stamp.txt"
mkdir -p bench/results
log="$work/log"
say() { echo "$*" | tee -a "$log"; }

# measure NAME OUT CMD...: run CMD (a command or one of the functions below) in the cgroup with its
# standard output in OUT; sets WALL (s), CPU (s, user+sys of everything it started), RSS (MB, the
# peak of a command's own process as getrusage reports it; 0 for the functions) and RC. Output and
# status are the caller's to check.
measure() {
  local name=$1 o=$2 c0 c1 s e; shift 2
  for p in $(cat "$cg/cgroup.procs"); do kill "$p" 2>/dev/null || true; done
  echo 0 >"$work/time"
  c0=$(cat "$cg/cpuacct.usage")
  s=$(date +%s.%N)
  set +e
  (
    echo "$BASHPID" >"$cg/cgroup.procs"
    if declare -F "$1" >/dev/null; then "$@"; else /usr/bin/time -f '%M' -o "$work/time" "$@"; fi
  ) >"$o" 2>"$o.err"
  RC=$?
  set -e
  e=$(date +%s.%N)
  c1=$(cat "$cg/cpuacct.usage")
  WALL=$(echo "$e - $s" | bc -l)
  CPU=$(echo "($c1 - $c0) / 1000000000" | bc -l)
  RSS=$(echo "$(tail -n1 "$work/time") / 1024" | bc -l)
  printf '  %-22s %8.2f s wall  %7.2f s cpu  %6.1f MB peak rss  (exit %s)\n' "$name" "$WALL" "$CPU" "$RSS" "$RC" | tee -a "$log"
}

# check_outputs DIR MODE: every host's output file complete (MODE full|unchanged), exit 0.
check_outputs() {
  python3 - "$1" "$2" "$names_file" <<'EOF'
import os, sys
d, mode, names = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().split()
bad = []
for n in names:
    try:
        out = open(os.path.join(d, n), errors="replace").read()
        rc = open(os.path.join(d, n + ".rc")).read().strip()
    except OSError as e:
        bad.append(f"{n}: {e}"); continue
    need = ["@@PD end"] + (["@@PD unchanged"] if mode == "unchanged" else
                           ["@@PD packages-exit 0", "@@PD pending-exit 0"])
    miss = [x for x in need if x not in out]
    if rc != "0" or miss:
        bad.append(f"{n}: exit {rc}, missing {miss}")
    elif mode == "full" and out.count("\tii \n") < 10:
        bad.append(f"{n}: fewer than 10 installed packages in the listing")
if bad:
    print(f"{len(bad)} of {len(names)} hosts failed:", *bad[:10], sep="\n  ")
    sys.exit(1)
EOF
}

# fingerprints DIR: NAME FINGERPRINT per host, from full outputs (the line after `@@PD state`).
fingerprints() {
  local h
  for h in $(cat "$names_file"); do
    printf '%s %s\n' "$h" "$(sed -n '/^@@PD state$/{n;p;q}' "$1/$h")"
  done >"$work/fp"
  awk 'length($2) != 32 { print "bench: no fingerprint for " $1; bad=1 } END { exit bad }' "$work/fp"
}

# hostside DIR MODE / openssh DIR MODE: one process per host, BENCH_PAR at once. The host-side
# run gives each host's script what its SSH session has (tests/fleet/light-sshd.py): /proc in its
# root (without it, apt closes every possible file descriptor one by one in each child it
# forks). The /proc mounts live in one private mount namespace made once per size (a process
# holds it; each host's script enters it with nsenter, then chroot): a new namespace per host
# would copy the machine's thousands of fleet mounts each time, which is not the hosts' work.
hs_namespace() {
  [ -z "$nspid" ] || kill "$nspid" 2>/dev/null || true
  unshare --mount --propagation private --fork --kill-child sleep 100000 </dev/null >/dev/null 2>&1 &
  nspid=$!
  sleep 0.3
  # shellcheck disable=SC2016
  nsenter -t "$nspid" -m sh -c 'd=$1; shift; for h; do mount -t proc proc "$d/hosts/$h/root/proc"; done' \
    sh "$FLEET_DIR" $(cat "$names_file") || die "could not mount /proc in the hosts' roots"
}
run_hostside() {
  local d=$1 mode=$2; rm -rf "$d"; mkdir -p "$d"
  if [ "$mode" = full ]; then
    xargs -a "$names_file" -P "$par" -I{} sh -c \
      'nsenter -t "$5" -m chroot "$1/hosts/$2/root" sh -s <"$3" >"$4/$2" 2>/dev/null; echo $? >"$4/$2.rc"' \
      sh "$FLEET_DIR" {} "$script" "$d" "$nspid"
  else
    xargs -a "$work/fp" -P "$par" -L1 sh -c \
      'nsenter -t "$4" -m chroot "$1/hosts/$5/root" sh -s -- "$6" <"$2" >"$3/$5" 2>/dev/null; echo $? >"$3/$5.rc"' \
      sh "$FLEET_DIR" "$script" "$d" "$nspid"
  fi
}
run_openssh() {
  local d=$1 mode=$2; rm -rf "$d"; mkdir -p "$d"
  if [ "$mode" = full ]; then
    xargs -a "$names_file" -P "$par" -I{} sh -c \
      'ssh -F "$1/ssh_config" -o BatchMode=yes "$2" "sh -s" <"$3" >"$4/$2" 2>/dev/null; echo $? >"$4/$2.rc"' sh "$FLEET_DIR" {} "$script" "$d"
  else
    xargs -a "$work/fp" -P "$par" -L1 sh -c \
      'ssh -F "$1/ssh_config" -o BatchMode=yes "$4" "sh -s -- $5" <"$2" >"$3/$4" 2>/dev/null; echo $? >"$3/$4.rc"' sh "$FLEET_DIR" "$script" "$d"
  fi
}

# check_patchdesk JSON DB MODE: every host ok in the summary (full: package list transferred;
# unchanged: not), and the database holds every host with packages and a successful last scan.
check_patchdesk() {
  "$bin" --db "$2" host list --json >"$work/hosts.json"
  python3 - "$1" "$work/hosts.json" "$3" "$names_file" "$work/counts" <<'EOF'
import json, sys
summary, hosts, mode = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
names = set(open(sys.argv[4]).read().split())
res = {h["host"]: h for h in summary["hosts"]}
bad = [f"{n}: not scanned" for n in names - set(res)]
for n, h in res.items():
    if not h["ok"]:
        bad.append(f"{n}: {h.get('error_code')}: {h.get('error')}")
    elif h["packages_transferred"] != (mode == "full"):
        bad.append(f"{n}: packages_transferred={h['packages_transferred']} on a {mode} scan")
# The package count each host's own dpkg-query gave in the host-side run.
want = dict(l.split() for l in open(sys.argv[5]).read().splitlines())
for h in hosts:
    last = h.get("last_scan") or {}
    if h["name"] in names and (not last.get("ok") or str(h.get("package_count")) != want.get(h["name"])):
        bad.append(f"{h['name']}: last scan ok={last.get('ok')}, {h.get('package_count')} packages in the database, "
                   f"{want.get(h['name'])} in dpkg-query")
if len(hosts) != len(names):
    bad.append(f"the database has {len(hosts)} hosts, expected {len(names)}")
if bad:
    print(f"{len(bad)} problems:", *bad[:10], sep="\n  ")
    sys.exit(1)
EOF
}

# The equal-work Ansible play.
cat >"$work/play.yml" <<'EOF'
- hosts: all
  gather_facts: false
  tasks:
    - name: installed packages (PatchDesk reads dpkg-query)
      package_facts:
        manager: apt
    - name: pending updates (PatchDesk reads apt-get -s dist-upgrade)
      command: apt-get -s -o Debug::NoLocking=1 dist-upgrade
      environment:
        LC_ALL: C
      changed_when: false
EOF
check_ansible() {
  python3 - "$1" "$names_file" <<'EOF'
import re, sys
text, names = open(sys.argv[1], errors="replace").read(), set(open(sys.argv[2]).read().split())
recap = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in
         re.finditer(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", text, re.M)}
bad = [f"{n}: not in the recap" for n in names - set(recap)]
bad += [f"{n}: ok={o} unreachable={u} failed={f}" for n, (o, u, f) in recap.items() if (o, u, f) != (2, 0, 0)]
if bad:
    print(f"{len(bad)} of {len(names)} hosts failed:", *bad[:10], sep="\n  ")
    sys.exit(1)
EOF
}

best() { sort -g | head -n1; }
declare -A R   # R[size,what]
done_sizes=()
# keep WHAT: append this run's figures to the size's lists.
# The results file is written again after each figure, so it holds everything measured so far.
keep() {
  echo "$WALL" >>"$work/$n-$1-wall"; echo "$CPU" >>"$work/$n-$1-cpu"; echo "$RSS" >>"$work/$n-$1-rss"
  [[ " ${done_sizes[*]} " == *" $n "* ]] || { done_sizes+=("$n"); R[$n,count]=$count; }
  report
}

# The tables: best run of each figure; CPU of the same best run, per host in ms.
# A figure not measured (yet) is "-".
fig() { if [ -s "$work/$1-$2-wall" ]; then best <"$work/$1-$2-wall" | xargs printf '%.2f'; else echo -; fi; }
cpu_ms() { [ -s "$work/$1-$2-wall" ] || { echo -; return; }; paste "$work/$1-$2-wall" "$work/$1-$2-cpu" | sort -g | head -n1 | awk -v c="$3" '{ printf "%.1f", $2 * 1000 / c }'; }
rss() { [ -s "$work/$1-$2-wall" ] || { echo -; return; }; paste "$work/$1-$2-wall" "$work/$1-$2-rss" | sort -g | head -n1 | awk '{ printf "%.0f", $2 }'; }
ratio() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else echo "$1 / $2" | bc -l | xargs printf '%.2f'; fi; }
# One wall-clock table: KIND full or re (Ansible's figure is its full run in both), then TITLE.
wall_table() {
  local kind=$1 n c hs ssh pd an
  echo "$2"
  printf '%-6s %10s %10s %10s %10s | %12s %12s %12s\n' hosts host-side openssh patchdesk ansible pd/host-side pd/openssh ansible/pd
  for n in "${done_sizes[@]}"; do
    c=${R[$n,count]}
    hs=$(fig "$n" "hs-$kind"); ssh=$(fig "$n" "ssh-$kind"); pd=$(fig "$n" "pd-$kind"); an=$(fig "$n" an)
    printf '%-6s %10s %10s %10s %10s | %12s %12s %12s\n' "$c" "$hs" "$ssh" "$pd" "$an" \
      "$(ratio "$pd" "$hs")" "$(ratio "$pd" "$ssh")" "$(ratio "$an" "$pd")"
  done
  echo
}
report() {
  local n c
{
  echo "# bench/fleet.sh ${sizes[*]} — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $par hosts at once, best of $runs"
  echo "# (Ansible: best of $runs at 100 hosts, of $ansible_runs_big above); CLI $bin"
  echo
  wall_table full "Full scan (wall-clock seconds)"
  wall_table re "Unchanged rescan (wall-clock seconds; Ansible has no shortcut: its full run)"
  echo "CPU per host (ms, user+sys of everything the tool ran here; host-side = the hosts' own work)"
  printf '%-6s %10s %10s %10s %10s %10s %10s %10s | %10s %10s\n' hosts hs-full hs-re ssh-full ssh-re pd-full pd-re ansible pd-rss-MB pd-re-rss
  for n in "${done_sizes[@]}"; do
    c=${R[$n,count]}
    printf '%-6s %10s %10s %10s %10s %10s %10s %10s | %10s %10s\n' "$c" "$(cpu_ms "$n" hs-full "$c")" "$(cpu_ms "$n" hs-re "$c")" \
      "$(cpu_ms "$n" ssh-full "$c")" "$(cpu_ms "$n" ssh-re "$c")" "$(cpu_ms "$n" pd-full "$c")" "$(cpu_ms "$n" pd-re "$c")" \
      "$(cpu_ms "$n" an "$c")" "$(rss "$n" pd-full)" "$(rss "$n" pd-re)"
  done
  echo
  echo "goals: pd/host-side <= 1.3, ansible/pd >= 10"
  echo
  echo "load average (1, 5, 15 min) before each size:"
  for n in "${done_sizes[@]}"; do echo "  ${R[$n,count]} hosts: ${R[$n,load]}"; done
  echo
  echo "Every run:"
  cat "$log"
} >"$out"
}

for n in "${sizes[@]}"; do
  # The first N hosts of the fleet that are running (pd-06 is down by design).
  names_file="$work/names-$n"
  python3 - "$FLEET_DIR/fleet.json" "$n" >"$names_file" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); n = int(sys.argv[2])
hosts = [h for h in m["hosts"] if h["family"] == "deb"][:n]
print("\n".join(h["name"] for h in hosts if h["running"]))
EOF
  count=$(wc -l <"$names_file")
  csv="$work/hosts-$n.csv"
  awk -F, 'NR == FNR { want[$1]; next } FNR == 1 || ($1 in want)' "$names_file" "$FLEET_DIR/hosts.csv" >"$csv"
  [ "$(($(wc -l <"$csv") - 1))" -eq "$count" ] || die "hosts.csv does not list the $count hosts"
  inv="$work/inventory-$n.ini"
  python3 - "$FLEET_DIR/fleet.json" "$names_file" >"$inv" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); names = set(open(sys.argv[2]).read().split())
print("[fleet]")
for h in m["hosts"]:
    if h["name"] in names:
        print(f"{h['name']} ansible_host={h['address']} ansible_port={h['port']} ansible_user={h['user']}")
EOF
  say ""
  say "== $count running hosts (pd-01..pd-$(printf %02d "$n")), $par at once; load before: $(uptime | sed 's/.*load average: //')"
  R[$n,load]=$(uptime | sed 's/.*load average: //')
  an_runs=$runs; [ "$n" -le 100 ] || an_runs=$ansible_runs_big
  hs_namespace
  # Warm-up (not timed): every host's files in the page cache, as on the hosts of a real fleet.
  run_hostside "$work/hs" full
  check_outputs "$work/hs" full || die "host-side warm-up: hosts failed"
  for r in $(seq "$runs"); do
    say " run $r"
    measure "host-side full" "$work/o" run_hostside "$work/hs" full
    check_outputs "$work/hs" full || die "host-side full scan: hosts failed"
    keep hs-full
    for h in $(cat "$names_file"); do printf '%s %s\n' "$h" "$(grep -c $'\tii $' "$work/hs/$h")"; done >"$work/counts"
    fingerprints "$work/hs" || die "host-side: missing fingerprints"
    measure "host-side rescan" "$work/o" run_hostside "$work/hs" unchanged
    check_outputs "$work/hs" unchanged || die "host-side unchanged rescan: hosts failed"
    keep hs-re

    measure "openssh full" "$work/o" run_openssh "$work/ssh" full
    check_outputs "$work/ssh" full || die "OpenSSH full scan: hosts failed"
    keep ssh-full
    fingerprints "$work/ssh" || die "OpenSSH: missing fingerprints"
    measure "openssh rescan" "$work/o" run_openssh "$work/ssh" unchanged
    check_outputs "$work/ssh" unchanged || die "OpenSSH unchanged rescan: hosts failed"
    keep ssh-re

    db="$work/inv-$n.db"; rm -f "$db"*
    "$bin" --db "$db" host import "$csv" >/dev/null
    "$bin" --db "$db" settings --known-hosts "$FLEET_DIR/known_hosts" --concurrency "$par" >/dev/null
    measure "patchdesk full" "$work/pd.json" "$bin" --db "$db" scan --all --json
    [ "$RC" -eq 0 ] || { cat "$work/pd.json.err" >&2; die "patchdesk full scan exited $RC"; }
    check_patchdesk "$work/pd.json" "$db" full || die "patchdesk full scan: hosts failed"
    keep pd-full
    measure "patchdesk rescan" "$work/pd.json" "$bin" --db "$db" scan --all --json
    [ "$RC" -eq 0 ] || { cat "$work/pd.json.err" >&2; die "patchdesk rescan exited $RC"; }
    check_patchdesk "$work/pd.json" "$db" unchanged || die "patchdesk rescan: hosts failed"
    keep pd-re

    if [ "$r" -le "$an_runs" ]; then
      measure "ansible (equal work)" "$work/an.txt" env ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_PIPELINING=True \
        ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_FORKS="$par" ANSIBLE_NOCOLOR=1 \
        ANSIBLE_PRIVATE_KEY_FILE="$FLEET_DIR/keys/id_ed25519" ANSIBLE_RETRY_FILES_ENABLED=False \
        ANSIBLE_SSH_ARGS="-C -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o UserKnownHostsFile=$FLEET_DIR/known_hosts -o StrictHostKeyChecking=yes" \
        "$venv/bin/ansible-playbook" -i "$inv" "$work/play.yml"
      check_ansible "$work/an.txt" || { tail -n 30 "$work/an.txt" >&2; die "Ansible: hosts failed"; }
      grep -A3 '^PLAY RECAP' "$work/an.txt" | tail -n +2 | sed 's/^/    recap: /' | tee -a "$log"
      keep an
    fi
  done
  say " load after: $(uptime | sed 's/.*load average: //')"
  report
done


cat "$out"
echo "bench: wrote $out"
