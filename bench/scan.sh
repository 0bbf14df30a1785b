#!/usr/bin/env bash
# Scan benchmark: PatchDesk against raw OpenSSH (the practical limit) and Ansible package_facts
# (the peer), on 20, 50 and 100 real fleet hosts, side by side in one run.
#
#   bench/scan.sh [SIZES...]        default: 20 50 100
#
# Each figure is the best of 3 wall-clock runs. Every tool scans every running host with as many
# parallel connections as there are hosts. Prints a table and the ratios; writes
# bench/results/scan-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(20 50 100)
FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
CACHE=${PATCHDESK_CACHE:-/var/cache/patchdesk}
runs=${BENCH_RUNS:-3}

scripts/deps.sh test
cargo build --release -q -p patchdesk-cli
bin="$root/target/release/patchdesk"

venv="$CACHE/ansible-venv"
if [ ! -x "$venv/bin/ansible" ]; then
  echo "bench: installing ansible-core into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q ansible-core
fi

script=$(mktemp)
"$bin" --db "$(mktemp -u)" scan-script >"$script"
work=$(mktemp -d)
trap 'rm -rf "$work" "$script"' EXIT

best() { sort -n | head -n1; }
now() { date +%s.%N; }

out="bench/results/scan-$(date +%Y%m%d-%H%M%S).txt"
mkdir -p bench/results
{
printf '%-6s %12s %12s %12s %14s %12s %14s\n' hosts openssh_s patchdesk_s "pd/openssh" pd_rescan_s ansible_s "ansible/pd"
for n in "${sizes[@]}"; do
  tests/fleet/fleet.sh up "$n" >/dev/null
  names=$(python3 -c "import json;m=json.load(open('$FLEET_DIR/fleet.json'));print(' '.join(h['name'] for h in m['hosts'] if h['running']))")
  count=$(wc -w <<<"$names")

  # (a) raw OpenSSH: same script, one ssh per host, all in parallel.
  t_ssh=$(for _ in $(seq "$runs"); do
    s=$(now)
    printf '%s\n' $names | xargs -P "$count" -I{} sh -c "ssh -F '$FLEET_DIR/ssh_config' -o BatchMode=yes {} 'sh -s' <'$script' >/dev/null"
    e=$(now); echo "$e - $s" | bc
  done | best)

  # (b) PatchDesk: full scan into a fresh database each run, then an unchanged rescan.
  t_pd=""; t_re=""
  for _ in $(seq "$runs"); do
    db="$work/inv-$n.db"; rm -f "$db"*
    "$bin" --db "$db" host import "$FLEET_DIR/hosts.csv" >/dev/null
    "$bin" --db "$db" settings --known-hosts "$FLEET_DIR/known_hosts" --concurrency "$count" >/dev/null
    s=$(now); "$bin" --db "$db" scan --all >/dev/null 2>&1 || true; e=$(now)
    t_pd+="$(echo "$e - $s" | bc)"$'\n'
    s=$(now); "$bin" --db "$db" scan --all >/dev/null 2>&1 || true; e=$(now)
    t_re+="$(echo "$e - $s" | bc)"$'\n'
  done
  t_pd=$(printf '%s' "$t_pd" | best); t_re=$(printf '%s' "$t_re" | best)

  # (c) Ansible package_facts with as many forks.
  t_an=$(for _ in $(seq "$runs"); do
    s=$(now)
    ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
      "$venv/bin/ansible" all -i "$FLEET_DIR/inventory.ini" -f "$count" -m package_facts -o >/dev/null 2>&1 || true
    e=$(now); echo "$e - $s" | bc
  done | best)

  printf '%-6s %12.2f %12.2f %12.2f %14.2f %12.2f %14.1f\n' "$count" "$t_ssh" "$t_pd" \
    "$(echo "$t_pd / $t_ssh" | bc -l)" "$t_re" "$t_an" "$(echo "$t_an / $t_pd" | bc -l)"
done
echo "targets: pd/openssh <= 1.5, ansible/pd >= 10 (best of $runs runs; hosts = running fleet hosts)"
} | tee "$out"
tests/fleet/fleet.sh up 6 >/dev/null
