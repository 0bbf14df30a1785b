#!/usr/bin/env bash
# The monitoring the fleet's team "already runs", for the gate tests of issue #13: a real
# Prometheus (Debian's `prometheus`) scraping every fleet host's pd-web on loopback
# (ADDRESS:8080/metrics, labels instance=ADDRESS:8080 and host=NAME) with alert rules on its error
# rate, and a real Alertmanager (`prometheus-alertmanager`) receiving them. Both are started from
# this script on 127.0.0.1 with their own config and data under $FLEET_DIR/monitoring (the
# packaged services are never used) and stopped by PID.
#
#   monitoring.sh up       start both (idempotent), wait until ready and both targets' scrapes run
#   monitoring.sh down     stop both (by PID)
#   monitoring.sh stop-prometheus / start-prometheus     Prometheus alone (the "monitoring is down" test)
#   monitoring.sh status   one line each; prints the URLs
#
# Ports: PD_PROM_PORT (default 19090), PD_AM_PORT (default 19093), so several fleets coexist.
set -euo pipefail

FLEET_DIR=${FLEET_DIR:-/var/tmp/patchdesk-fleet}
PROM_PORT=${PD_PROM_PORT:-19090}
AM_PORT=${PD_AM_PORT:-19093}
DIR="$FLEET_DIR/monitoring"
MANIFEST="$FLEET_DIR/fleet.json"

log() { echo "monitoring: $*" >&2; }
die() { echo "monitoring: error: $*" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

ready() { # URL
  python3 - "$1" <<'PY'
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=1).status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

write_config() {
  [ -f "$MANIFEST" ] || die "no fleet at $FLEET_DIR (run tests/fleet/fleet.sh up first)"
  mkdir -p "$DIR/data/prom" "$DIR/data/am"
  python3 - "$MANIFEST" "$DIR" "$AM_PORT" <<'PY'
import json, sys
manifest, d, am = sys.argv[1], sys.argv[2], sys.argv[3]
hosts = json.load(open(manifest))["hosts"]
targets = []
for h in hosts:
    targets.append(f"""      - targets: ['{h["address"]}:8080']
        labels: {{host: '{h["name"]}'}}""")
open(f"{d}/prometheus.yml", "w").write(f"""# written by tests/fleet/monitoring.sh
global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{am}']
rule_files: [rules.yml]
scrape_configs:
  - job_name: pd-web
    static_configs:
""" + "\n".join(targets) + "\n")
open(f"{d}/rules.yml", "w").write("""# written by tests/fleet/monitoring.sh
groups:
  - name: pd-web
    interval: 1s
    rules:
      - alert: PdWebServing5xx
        expr: rate(pd_web_requests_total{code="500"}[10s]) > 0
        for: 0s
        labels: {severity: critical}
        annotations: {summary: 'pd-web on {{ $labels.host }} answers 5xx'}
      - alert: PdWebFlagged
        expr: pd_web_flag == 1
        for: 0s
        labels: {severity: warning}
        annotations: {summary: 'pd-web on {{ $labels.host }} is flagged'}
""")
open(f"{d}/alertmanager.yml", "w").write("""# written by tests/fleet/monitoring.sh
route:
  receiver: none
  group_by: [alertname, host]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: none
""")
PY
}

start_prometheus() {
  alive "$DIR/prometheus.pid" && return 0
  command -v prometheus >/dev/null || die "prometheus is not installed (scripts/deps.sh test)"
  prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/data/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-lifecycle \
    >>"$DIR/prometheus.log" 2>&1 </dev/null &
  echo $! >"$DIR/prometheus.pid"
  for _ in $(seq 100); do
    ready "http://127.0.0.1:$PROM_PORT/-/ready" && return 0
    alive "$DIR/prometheus.pid" || die "prometheus exited; see $DIR/prometheus.log"
    sleep 0.1
  done
  die "prometheus is not ready on 127.0.0.1:$PROM_PORT; see $DIR/prometheus.log"
}

start_alertmanager() {
  alive "$DIR/alertmanager.pid" && return 0
  command -v prometheus-alertmanager >/dev/null || die "prometheus-alertmanager is not installed (scripts/deps.sh test)"
  prometheus-alertmanager --config.file="$DIR/alertmanager.yml" --storage.path="$DIR/data/am" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= \
    >>"$DIR/alertmanager.log" 2>&1 </dev/null &
  echo $! >"$DIR/alertmanager.pid"
  for _ in $(seq 100); do
    ready "http://127.0.0.1:$AM_PORT/-/ready" && return 0
    alive "$DIR/alertmanager.pid" || die "alertmanager exited; see $DIR/alertmanager.log"
    sleep 0.1
  done
  die "alertmanager is not ready on 127.0.0.1:$AM_PORT; see $DIR/alertmanager.log"
}

# Prometheus discovers its static targets in a batch after ~5 s: wait until it scrapes at all
# (up{} has series) and knows its Alertmanager.
wait_scraping() {
  for _ in $(seq 150); do
    if python3 - "$PROM_PORT" <<'PY'
import json, sys, urllib.request
p = sys.argv[1]
def get(path):
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{p}{path}", timeout=1))
try:
    ups = get("/api/v1/query?query=up")["data"]["result"]
    ams = get("/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    sys.exit(0 if ups and ams else 1)
except Exception:
    sys.exit(1)
PY
    then return 0; fi
    sleep 0.1
  done
  die "prometheus does not scrape the fleet after 15 s; see $DIR/prometheus.log"
}

stop_pid() {
  local f=$1
  if alive "$f"; then
    local pid; pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

case "${1:-}" in
  up)
    mkdir -p "$DIR"
    write_config
    start_alertmanager
    start_prometheus
    wait_scraping
    log "prometheus http://127.0.0.1:$PROM_PORT, alertmanager http://127.0.0.1:$AM_PORT"
    ;;
  down) stop_pid "$DIR/prometheus.pid"; stop_pid "$DIR/alertmanager.pid"; log "stopped" ;;
  stop-prometheus) stop_pid "$DIR/prometheus.pid"; log "prometheus stopped" ;;
  start-prometheus) start_prometheus; wait_scraping ;;
  status)
    for x in prometheus alertmanager; do
      if alive "$DIR/$x.pid"; then echo "$x running (pid $(cat "$DIR/$x.pid"))"; else echo "$x stopped"; fi
    done
    echo "prometheus_url http://127.0.0.1:$PROM_PORT"
    echo "alertmanager_url http://127.0.0.1:$AM_PORT"
    ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
