#!/usr/bin/env bash
# A wave on N hosts (issue #16; default 250: the 25 % wave of a 1,000-host fleet) and its
# rollback, timed through the CLI, on light hosts of the test fleet (`tests/fleet/fleet.sh up
# 1000`): prod hosts pd-07.. in a group of their own, one plan for pd-hello whose only stage is
# all N hosts (no canary, one wave: both guards overridden with a reason), a smoke test per host
# (`pd-hello-smoke`) as the stage's health step.
#
#   bench/wave.sh [N]             PATCHDESK_BIN=... (default target/release/patchdesk, built here)
#
# Timed: `deploy start` (apply + verify + smoke of the whole stage) and `deploy rollback`, with
# their CPU (user+sys of the CLI and its children) and peak RSS (/usr/bin/time). Checked, or the
# bench fails: the stage has exactly the N hosts; after the stage a rescan (PatchDesk's database,
# `query package`) and dpkg-query in each host's root both show every host at its planned
# version; after the rollback both show every host at its version from before.
# Writes bench/results/wave-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-250}
FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
die() { echo "bench: error: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (reads dpkg in the hosts' roots)"
if [ -z "${PATCHDESK_BIN:-}" ]; then
  cargo build --release -q --locked -p patchdesk-cli
  PATCHDESK_BIN="$root/target/release/patchdesk"
fi
bin=$PATCHDESK_BIN
last=$((n + 6))
have=$(cat "$FLEET_DIR/size" 2>/dev/null || echo 0)
[ "$have" -ge "$last" ] || die "the fleet has $have hosts; this needs pd-07..pd-$last: tests/fleet/fleet.sh up $last"

work=$(mktemp -d /tmp/pd-wave.XXXXXX)
trap 'rm -rf "$work"' EXIT
db="$work/wave.db"
pd() { "$bin" --db "$db" "$@"; }
out="bench/results/wave-$(date +%Y%m%d-%H%M).txt"
mkdir -p bench/results
log="$work/log"
say() { echo "$*" | tee -a "$log"; }

# The hosts pd-07..pd-(N+6), every one prod, in the group bench-wave only.
awk -F, -v OFS=, -v last="$last" 'NR == 1 { print; next }
  { i = substr($1, 4) + 0 } i >= 7 && i <= last { $7 = "bench-wave"; print }' "$FLEET_DIR/hosts.csv" >"$work/hosts.csv"
[ "$(($(wc -l <"$work/hosts.csv") - 1))" -eq "$n" ] || die "hosts.csv does not list pd-07..pd-$last"
cut -d, -f1 "$work/hosts.csv" | tail -n +2 >"$work/names"
pd host import "$work/hosts.csv" >/dev/null
pd settings --known-hosts "$FLEET_DIR/known_hosts" >/dev/null

# scan_ok: a scan of the N hosts in which every host is ok.
scan_ok() {
  pd scan --all --json >"$work/scan.json" 2>"$work/scan.err" || { cat "$work/scan.err" >&2; die "scan failed"; }
  python3 - "$work/scan.json" "$n" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1])); hosts = s["hosts"]
bad = [h["host"] + ": " + str(h["error"]) for h in hosts if not h["ok"]]
if bad or len(hosts) != int(sys.argv[2]):
    sys.exit("scan: " + "; ".join(bad[:5]) + f" ({len(hosts)} hosts)")
EOF
}

# versions WHICH: every host's pd-hello in the database (after a rescan) and in its root equals
# the plan's WHICH (from_version or to_version).
versions() {
  scan_ok
  pd query package pd-hello --json >"$work/query.json"
  while read -r h; do
    printf '%s %s\n' "$h" "$(chroot "$FLEET_DIR/hosts/$h/root" dpkg-query -W -f='${Version}' pd-hello)"
  done <"$work/names" >"$work/dpkg.txt"
  python3 - "$work/plan.json" "$work/query.json" "$work/dpkg.txt" "$1" <<'EOF'
import json, sys
plan, hits, which = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[4]
want = {t["host"]: t[which] for t in plan["targets"] if t["package"] == "pd-hello"}
def host_of(h): return h.get("host") or h.get("name")
db = {host_of(h): h.get("version") for h in hits}
root = dict(l.split(" ", 1) for l in open(sys.argv[3]).read().splitlines())
bad = [f"{h}: want {v}, database {db.get(h)}, dpkg {root.get(h)}" for h, v in want.items()
       if db.get(h) != v or root.get(h) != v]
if bad or not want:
    sys.exit(f"{len(bad)} of {len(want)} hosts not at their {which}: " + "; ".join(bad[:5]))
print(f"  every one of the {len(want)} hosts at its {which} (database after a rescan, and dpkg-query in its root)")
EOF
}

# timed NAME OUT CMD...: wall, user+sys of the CLI and its children, peak RSS.
timed() {
  local name=$1 o=$2 s e; shift 2
  s=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$work/time" "$@" >"$o" 2>"$o.err" || { cat "$o.err" >&2; die "$name failed"; }
  e=$(date +%s.%N)
  read -r u sy m <"$work/time"
  say "$(printf '%-34s %8.1f s wall  %6.1f s cpu (%.1f ms/host)  %5.0f MB peak rss' "$name" "$(echo "$e - $s" | bc -l)" \
    "$(echo "$u + $sy" | bc -l)" "$(echo "($u + $sy) * 1000 / $n" | bc -l)" "$(echo "$m / 1024" | bc -l)")"
}

say "# bench/wave.sh $n — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; CLI $bin"
say "# load before: $(uptime | sed 's/.*load average: //')"
scan_ok
pd deploy plan --name "wave-$n" --scope bench-wave --package pd-hello --waves 100 --soak-hours 0 \
  --override "no-canary=bench: one stage of $n hosts" --override "single-stage=bench: one stage of $n hosts" \
  --smoke /usr/bin/pd-hello-smoke --json >"$work/plan.json" || die "plan failed"
id=$(python3 - "$work/plan.json" "$n" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1])); st = p["stages"]
shape = [(x["name"], len(x["hosts"])) for x in st]
if len(st) != 1 or len(st[0]["hosts"]) != int(sys.argv[2]) or p["deployment_id"] is None:
    sys.exit(f"want one stage of {sys.argv[2]} hosts, got {shape}")
print(p["deployment_id"])
EOF
)
say "plan $id: one stage of $n hosts, pd-hello $(python3 -c '
import json, sys, collections
c = collections.Counter((t["from_version"], t["to_version"]) for t in json.load(open(sys.argv[1]))["targets"])
print(", ".join(f"{a} -> {b} on {k}" for (a, b), k in c.items()))' "$work/plan.json")"
say "concurrency: $(pd settings | grep -i concurrency | tr -s ' ')"

timed "deploy start (apply+verify+smoke)" "$work/start.json" "$bin" --db "$db" deploy start "$id" --json
pd deploy status "$id" --json >"$work/status.json"
say "  state after the stage: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d[0] if isinstance(d,list) else d; print(d.get("state"), "/", d.get("waiting_for") or d.get("summary") or "")' "$work/status.json" | head -c 300)"
versions to_version | tee -a "$log"

timed "deploy rollback" "$work/rollback.json" "$bin" --db "$db" deploy rollback "$id" --json
versions from_version | tee -a "$log"
say "# load after: $(uptime | sed 's/.*load average: //')"
cp "$log" "$out"
echo "bench: wrote $out"
