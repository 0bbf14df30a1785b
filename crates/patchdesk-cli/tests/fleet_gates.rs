//! Gates that decide on evidence (issue #13), on the real fleet with real monitoring: the fleet's
//! pd-web service (tests/fleet/fleet.sh, `--web-mode`) on the canary hosts pd-01 and pd-02, a
//! real Prometheus scraping it and a real Alertmanager (tests/fleet/monitoring.sh, started here
//! when not running). A version that answers 500s fails the HTTP probe and the PromQL check at
//! the canary gate, with the measured values beside their baselines, and is rolled back; a version
//! that writes error lines fails the error rate; an alert that fires only after the stage is a
//! new alert while one firing before is not counted; Prometheus stopped makes the gate
//! inconclusive (paused, a plain go refused) until it answers again.

mod common;

use common::{at, deploy_plan, installed, planned, scanned_cli, ssh, stage, Cli, Fleet, Published};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const CANARY: [&str; 2] = ["pd-01", "pd-02"];

fn prom_port() -> String {
    std::env::var("PD_PROM_PORT").unwrap_or_else(|_| "19090".into())
}

fn am_port() -> String {
    std::env::var("PD_AM_PORT").unwrap_or_else(|_| "19093".into())
}

fn monitoring(fleet: &Fleet, what: &str) {
    let out = Command::new("bash")
        .arg(common::repo_root().join("tests/fleet/monitoring.sh"))
        .arg(what)
        .env("FLEET_DIR", fleet.path("dir"))
        .output()
        .expect("monitoring.sh runs");
    assert!(
        out.status.success(),
        "monitoring.sh {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "5", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The sum of a PromQL query's series (None: no data).
fn promql(q: &str) -> Option<f64> {
    let out = Command::new("curl")
        .args([
            "-s",
            "-m",
            "5",
            &format!("http://127.0.0.1:{}/api/v1/query", prom_port()),
            "--data-urlencode",
            &format!("query={q}"),
        ])
        .output()
        .expect("curl runs");
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let r = v["data"]["result"].as_array()?;
    if r.is_empty() {
        return None;
    }
    Some(
        r.iter()
            .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
            .sum(),
    )
}

/// Alert names Alertmanager lists as active for a host.
fn firing(host: &str) -> Vec<String> {
    let (_, body) = get(&format!("http://127.0.0.1:{}/api/v2/alerts", am_port()));
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut names: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["labels"]["host"] == host && x["status"]["state"] == "active")
                .map(|x| x["labels"]["alertname"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if f() {
            return t.elapsed();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: not within {secs} s");
}

fn rate_500(addr: &str) -> String {
    format!("sum(rate(pd_web_requests_total{{code=\"500\",instance=\"{addr}:8080\"}}[5s]))")
}

/// pd-web installed on the canaries at a good version, the monitoring up and scraping it;
/// purged again (and its flag removed) when dropped.
struct WebWorld<'a> {
    fleet: &'a Fleet,
    _published: Published<'a>,
}

impl<'a> WebWorld<'a> {
    fn new(fleet: &'a Fleet, versions: &[&[&str]]) -> WebWorld<'a> {
        let published = Published::new(fleet, versions, &CANARY);
        for h in CANARY {
            ssh(
                fleet,
                h,
                "rm -f /var/lib/pd-web/flag; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades pd-web=1.0-1 >/dev/null 2>&1",
            );
            assert_eq!(installed(fleet, h, "pd-web"), "1.0-1");
        }
        monitoring(fleet, "up");
        for h in CANARY {
            let addr = fleet.host(h).address;
            let q = rate_500(&addr);
            wait_for(
                &format!("Prometheus scraping {h}'s pd-web at 0 errors"),
                30,
                || promql(&q) == Some(0.0),
            );
            wait_for(&format!("no alert for {h}"), 30, || firing(h).is_empty());
        }
        WebWorld {
            fleet,
            _published: published,
        }
    }
}

impl Drop for WebWorld<'_> {
    fn drop(&mut self) {
        // Over SSH, inside the host (its prerm stops the service in the host's own PID
        // namespace; a chroot from outside must not).
        let cfg = self.fleet.path("dir").join("ssh_config");
        for h in CANARY {
            let _ = Command::new("ssh")
                .arg("-F")
                .arg(&cfg)
                .args([
                    "-o",
                    "BatchMode=yes",
                    h,
                    "rm -f /var/lib/pd-web/flag; dpkg --purge pd-web >/dev/null 2>&1 || true",
                ])
                .output();
        }
    }
}

fn checks(cli: &Cli, extra: &[&str]) {
    let mut args = vec!["deploy", "checks", "--group", "canary"];
    args.extend_from_slice(extra);
    cli.ok(&args);
}

fn plan(cli: &Cli, when: &str, soak_hours: &str) -> String {
    planned(
        cli,
        when,
        &[
            "--name",
            "web",
            "--scope",
            "canary",
            "--package",
            "pd-web",
            "--soak-hours",
            soak_hours,
        ],
    )
    .1
}

/// A host's checklist at a stage: kind → the check.
fn check<'a>(st: &'a Value, stage_name: &str, host: &str, kind: &str) -> &'a Value {
    let s = stage(st, stage_name);
    let h = s["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no {host} in {s}"));
    h["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} check for {host}: {h}"))
}

#[test]
#[ignore = "scripts/test.sh runs the gate tests in their own step, after the other fleet tests (they reboot and stop hosts)"]
fn a_version_answering_500s_fails_http_and_promql_at_the_canary_gate_and_is_rolled_back() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _world = WebWorld::new(
        &fleet,
        &[
            &["pd-web", "1.0-1"],
            &["pd-web", "1.1-1", "--web-mode", "500"],
        ],
    );
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let prom = format!("http://127.0.0.1:{}", prom_port());
    checks(
        &cli,
        &[
            "--http",
            "http://{address}:8080/",
            "--http-body",
            "pd-web",
            "--prom-url",
            &prom,
            "--prom-query",
            "sum(rate(pd_web_requests_total{code=\"500\",instance=\"{instance}\"}[5s]))",
            "--prom-max",
            "0",
            "--instance",
            "{address}:8080",
            "--settle",
            "4",
        ],
    );
    let id = plan(&cli, t0, "24");
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    assert_eq!(st["state"], "running", "waiting at the gate: {st}");
    let canary = stage(&st, "canary");
    assert_eq!(
        canary["state"], "gate",
        "unhealthy: no soak, straight to the gate: {st}"
    );
    assert_eq!(canary["verdict"], "no-go", "{canary}");
    for h in CANARY {
        assert_eq!(installed(&fleet, h, "pd-web"), "1.1-1");
        let http = check(&st, "canary", h, "http");
        assert_eq!(http["status"], "failed", "{http}");
        assert!(
            http["baseline"].as_str().unwrap().starts_with("HTTP 200×5"),
            "{http}"
        );
        assert!(
            http["value"].as_str().unwrap().starts_with("HTTP 500×5"),
            "{http}"
        );
        assert_eq!(http["detail"], "HTTP 500 (expected 2xx)");
        let p = check(&st, "canary", h, "prometheus");
        assert_eq!(p["status"], "failed", "{p}");
        assert_eq!(p["baseline"], "0", "{p}");
        let v: f64 = p["value"].as_str().unwrap().parse().unwrap();
        assert!(v > 0.0, "{p}");
        eprintln!(
            "{h}: HTTP {} → {}; PromQL {} → {}",
            http["baseline"], http["value"], p["baseline"], p["value"]
        );
    }
    // The text view carries the same checklist with the baselines.
    let text = cli.ok(&["deploy", "status", &id]);
    assert!(text.contains("✗ HTTP http://127.77."), "{text}");
    assert!(text.contains("(baseline HTTP 200×5"), "{text}");
    // A no-go needs a reason; it is recorded with who and when.
    let refused = cli.cmd_with(&["deploy", "no-go", &id], &[("PATCHDESK_NOW", t0)]);
    assert_ne!(refused.status.code(), Some(0));
    let (st, _) = at(
        &cli,
        t0,
        &[
            "deploy",
            "no-go",
            &id,
            "--reason",
            "pd-web answers 500",
            "--json",
        ],
    );
    let canary = stage(&st, "canary");
    assert_eq!(canary["decision"], "no-go");
    assert_eq!(canary["decision_reason"], "pd-web answers 500");
    assert_eq!(canary["decided_by"], "user");
    assert!(canary["decided_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-24T12:00:00"));
    let (st, _) = at(&cli, t0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(st["state"], "rolled-back", "{st}");
    for h in CANARY {
        assert_eq!(installed(&fleet, h, "pd-web"), "1.0-1");
        let addr = fleet.host(h).address;
        let (code, body) = get(&format!("http://{addr}:8080/"));
        assert_eq!((code, body.trim()), (200, "pd-web 1.0-1 ok"));
        let q = rate_500(&addr);
        let back = wait_for("the 5xx rate back to its baseline 0", 30, || {
            promql(&q) == Some(0.0)
        });
        eprintln!("{h}: 5xx rate back to 0 after {:.1} s", back.as_secs_f64());
    }
}

#[test]
#[ignore = "scripts/test.sh runs the gate tests in their own step, after the other fleet tests (they reboot and stop hosts)"]
fn a_version_writing_error_lines_is_an_error_rate_no_go_while_its_process_runs() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _world = WebWorld::new(
        &fleet,
        &[
            &["pd-web", "1.0-1"],
            &["pd-web", "1.2-1", "--web-mode", "errors"],
        ],
    );
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    checks(
        &cli,
        &[
            "--log-file",
            "/var/log/pd-web.log",
            "--log-pattern",
            "ERROR",
            "--log-window",
            "3",
            "--process",
            "pd-web",
            "--unit",
            "pd-web.service",
        ],
    );
    let id = plan(&cli, t0, "24");
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    let canary = stage(&st, "canary");
    assert_eq!(canary["verdict"], "no-go", "{canary}");
    for h in CANARY {
        let e = check(&st, "canary", h, "error_rate");
        assert_eq!(e["status"], "failed", "{e}");
        assert!(
            e["baseline"]
                .as_str()
                .unwrap()
                .starts_with("0 lines in 3 s"),
            "{e}"
        );
        assert!(
            e["detail"]
                .as_str()
                .unwrap()
                .starts_with("the error rate rose from 0/min to "),
            "{e}"
        );
        // No systemd on the fleet: the unit cannot be checked, the process can: it decides.
        let s = check(&st, "canary", h, "service");
        assert_eq!(s["status"], "passed", "{s}");
        assert_eq!(s["value"], "process pd-web: up", "{s}");
        eprintln!("{h}: error lines {} → {}", e["baseline"], e["value"]);
    }
}

#[test]
#[ignore = "scripts/test.sh runs the gate tests in their own step, after the other fleet tests (they reboot and stop hosts)"]
fn an_alert_new_after_the_stage_is_a_no_go_and_one_firing_before_is_not_counted() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _world = WebWorld::new(&fleet, &[&["pd-web", "1.0-1"], &["pd-web", "1.0-2"]]);
    // An alert firing for pd-01 before anything runs.
    ssh(
        &fleet,
        "pd-01",
        "mkdir -p /var/lib/pd-web && touch /var/lib/pd-web/flag",
    );
    wait_for("PdWebFlagged firing for pd-01", 30, || {
        firing("pd-01") == ["PdWebFlagged"]
    });
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let am = format!("http://127.0.0.1:{}", am_port());
    checks(
        &cli,
        &[
            "--am-url",
            &am,
            "--am-label",
            "host",
            "--am-value",
            "{host}",
            "--settle",
            "4",
        ],
    );
    // A good version: the old alert is listed, not counted.
    let id = plan(&cli, t0, "0");
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    let canary = stage(&st, "canary");
    assert_eq!(canary["verdict"], "go", "{canary}");
    let a = check(&st, "canary", "pd-01", "alerts");
    assert_eq!(a["status"], "passed", "{a}");
    assert_eq!(a["baseline"], "firing: PdWebFlagged");
    assert_eq!(a["value"], "new: none");
    assert_eq!(
        a["detail"],
        "firing before the stage (not counted): PdWebFlagged"
    );
    at(&cli, t0, &["deploy", "go", &id, "--json"]);
    // The bad version: its 5xx alert fires only after the stage.
    let _bad = Published::new(
        &fleet,
        &[&["pd-web", "1.1-1", "--web-mode", "500"]],
        &CANARY,
    );
    let cli = scanned_cli(&fleet, t0);
    checks(
        &cli,
        &[
            "--am-url",
            &am,
            "--am-label",
            "host",
            "--am-value",
            "{host}",
            "--settle",
            "4",
        ],
    );
    let id = plan(&cli, t0, "0");
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    let canary = stage(&st, "canary");
    assert_eq!(canary["verdict"], "no-go", "{canary}");
    let a = check(&st, "canary", "pd-01", "alerts");
    assert_eq!(a["status"], "failed", "{a}");
    assert_eq!(a["value"], "new: PdWebServing5xx");
    assert_eq!(
        a["detail"],
        "new alerts firing: PdWebServing5xx; firing before the stage (not counted): PdWebFlagged"
    );
    let b = check(&st, "canary", "pd-02", "alerts");
    assert_eq!(b["status"], "failed", "{b}");
    assert_eq!(b["baseline"], "firing: none");
    at(&cli, t0, &["deploy", "rollback", &id, "--json"]);
}

#[test]
#[ignore = "scripts/test.sh runs the gate tests in their own step, after the other fleet tests (they reboot and stop hosts)"]
fn prometheus_down_makes_the_gate_inconclusive_and_paused_never_a_pass() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _world = WebWorld::new(&fleet, &[&["pd-web", "1.0-1"], &["pd-web", "1.0-2"]]);
    struct Restart<'a>(&'a Fleet);
    impl Drop for Restart<'_> {
        fn drop(&mut self) {
            monitoring(self.0, "start-prometheus");
        }
    }
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let prom = format!("http://127.0.0.1:{}", prom_port());
    checks(
        &cli,
        &[
            "--prom-url",
            &prom,
            "--prom-query",
            "sum(rate(pd_web_requests_total{code=\"500\",instance=\"{instance}\"}[5s]))",
            "--prom-max",
            "0",
            "--instance",
            "{address}:8080",
        ],
    );
    let id = plan(&cli, t0, "0");
    let restart = Restart(&fleet);
    monitoring(&fleet, "stop-prometheus");
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    let canary = stage(&st, "canary");
    assert_eq!(canary["state"], "gate");
    assert_eq!(canary["verdict"], "inconclusive", "{canary}");
    let p = check(&st, "canary", "pd-01", "prometheus");
    assert_eq!(p["status"], "inconclusive", "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("cannot be queried"),
        "{p}"
    );
    let w = st["waiting_for"].as_str().unwrap();
    assert!(w.contains("paused") && w.contains("inconclusive"), "{w}");
    let refused = cli.cmd_with(&["deploy", "go", &id], &[("PATCHDESK_NOW", t0)]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a plain go at an inconclusive gate is refused"
    );
    // Prometheus answers again (with data: two scrapes for the rate): the next run measures
    // again and the gate passes on evidence.
    drop(restart);
    for h in CANARY {
        let q = rate_500(&fleet.host(h).address);
        wait_for("Prometheus has data again", 30, || promql(&q) == Some(0.0));
    }
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    let canary = stage(&st, "canary");
    assert_eq!(canary["verdict"], "go", "{canary}");
    assert_eq!(
        check(&st, "canary", "pd-01", "prometheus")["status"],
        "passed"
    );
    let (st, code) = at(&cli, t0, &["deploy", "go", &id, "--json"]);
    assert_eq!((code, st["state"].as_str()), (0, Some("finished")), "{st}");
}

/// The kernel-like package installed and booted on the canaries; purged, booted back to the
/// machine's kernel and pd-02's original reboot flag restored when dropped.
struct KernelWorld<'a> {
    fleet: &'a Fleet,
    _published: Published<'a>,
}

impl<'a> KernelWorld<'a> {
    fn new(fleet: &'a Fleet) -> KernelWorld<'a> {
        let published = Published::new(
            fleet,
            &[
                &["pd-linux-image", "5.10.0-1"],
                &["pd-linux-image", "5.10.0-2"],
            ],
            &CANARY,
        );
        for h in CANARY {
            ssh(
                fleet,
                h,
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pd-linux-image=5.10.0-1 >/dev/null 2>&1",
            );
            fleet.run(&["reboot", h, "--wait"]);
            assert_eq!(
                ssh(fleet, h, "cat /proc/sys/kernel/osrelease").trim(),
                "5.10.0-1-pd"
            );
        }
        KernelWorld {
            fleet,
            _published: published,
        }
    }
}

impl Drop for KernelWorld<'_> {
    fn drop(&mut self) {
        for h in CANARY {
            let run = |args: &[&str]| {
                let _ = Command::new("bash")
                    .arg(&self.fleet.script)
                    .args(args)
                    .output();
            };
            run(&["stop-host", h]);
            run(&["exec", h, "--", "dpkg", "--purge", "pd-linux-image"]);
            run(&[
                "exec",
                h,
                "--",
                "rm",
                "-f",
                "/run/reboot-required",
                "/run/reboot-required.pkgs",
            ]);
            if self.fleet.host(h).reboot_required {
                run(&[
                    "exec",
                    h,
                    "--",
                    "sh",
                    "-c",
                    "touch /run/reboot-required; echo pd-kernel >/run/reboot-required.pkgs",
                ]);
            }
            run(&["start-host", h]);
        }
    }
}

#[test]
#[ignore = "scripts/test.sh runs the gate tests in their own step, after the other fleet tests (they reboot and stop hosts)"]
fn a_kernel_update_reboots_its_host_inside_the_stage_and_a_host_that_never_comes_back_is_a_no_go() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _world = KernelWorld::new(&fleet);
    // pd-02 will not come back from its next reboot.
    fleet.exec("pd-02", &["touch", "/etc/pd-boot-hang"]);
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    checks(
        &cli,
        &[
            "--process",
            "sshd",
            "--reboot",
            "window",
            "--reboot-timeout",
            "30",
        ],
    );
    let (plan, code) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "kernel",
            "--scope",
            "canary",
            "--package",
            "pd-linux-image",
            "--soak-hours",
            "24",
        ],
    );
    assert_eq!(code, 0, "{plan}");
    // The plan says in advance which hosts will reboot, and that the stage does it.
    let reboots: Vec<&str> = plan["review"]["reboots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(reboots, CANARY, "{plan}");
    assert_eq!(plan["review"]["reboot_policy"], "in_window");
    assert_eq!(
        plan["review"]["reboots"][0]["why"],
        "its update changes pd-linux-image"
    );
    let id = plan["deployment_id"].as_i64().unwrap().to_string();
    let t = Instant::now();
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    eprintln!(
        "apply + reboots + verify: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let canary = stage(&st, "canary");
    assert_eq!(canary["verdict"], "no-go", "{canary}");
    // pd-01: rebooted inside the stage, back, running the new kernel.
    let r = check(&st, "canary", "pd-01", "reboot");
    assert_eq!(r["status"], "passed", "{r}");
    let v = r["value"].as_str().unwrap();
    assert!(
        v.starts_with("rebooted: back after ") && v.ends_with("running kernel 5.10.0-2-pd"),
        "{v}"
    );
    eprintln!("pd-01: {v}");
    assert_eq!(
        ssh(&fleet, "pd-01", "cat /proc/sys/kernel/osrelease").trim(),
        "5.10.0-2-pd"
    );
    assert_eq!(check(&st, "canary", "pd-01", "service")["status"], "passed");
    // pd-02 never came back: a no-go with the reason.
    let reasons = canary["reasons"].to_string();
    assert!(
        reasons.contains("pd-02")
            && reasons.contains("did not come back within 30 s after the reboot"),
        "{reasons}"
    );
    let audit = common::audit_rows(&cli);
    for h in CANARY {
        assert!(
            audit
                .iter()
                .any(|a| a.0 == h && a.1 == "reboot" && a.2 == "before")
                && audit
                    .iter()
                    .any(|a| a.0 == h && a.1 == "reboot" && a.2 == "after"),
            "{h}: the reboot is audited before and after: {audit:?}"
        );
    }
}

#[test]
#[ignore = "scripts/test.sh runs the gate tests in their own step, after the other fleet tests (they reboot and stop hosts)"]
fn asked_at_the_gate_a_kernel_update_waits_for_the_reboot_a_person_starts() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _world = KernelWorld::new(&fleet);
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    checks(
        &cli,
        &[
            "--process",
            "sshd",
            "--reboot",
            "ask",
            "--reboot-timeout",
            "60",
        ],
    );
    let (plan, code) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "kernel asked",
            "--scope",
            "canary",
            "--package",
            "pd-linux-image",
            "--soak-hours",
            "0",
        ],
    );
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["review"]["reboot_policy"], "ask_at_gate");
    let id = plan["deployment_id"].as_i64().unwrap().to_string();
    let boot = |h: &str| ssh(&fleet, h, "cat /proc/sys/kernel/random/boot_id");
    let boots: Vec<String> = CANARY.iter().map(|h| boot(h)).collect();
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    // Applied, not rebooted: the gate waits for the reboot and says so; a plain go is refused.
    let canary = stage(&st, "canary");
    assert_eq!(canary["state"], "gate", "{canary}");
    assert_eq!(canary["verdict"], "inconclusive", "{canary}");
    for (h, b) in CANARY.iter().zip(&boots) {
        let r = check(&st, "canary", h, "reboot");
        assert_eq!(r["status"], "inconclusive", "{r}");
        assert_eq!(r["detail"], "needs a reboot: reboot it at this gate", "{r}");
        assert_eq!(&boot(h), b, "{h} was not rebooted by the stage");
        assert_eq!(
            ssh(&fleet, h, "cat /proc/sys/kernel/osrelease").trim(),
            "5.10.0-1-pd"
        );
    }
    let refused = cli.cmd_with(&["deploy", "go", &id], &[("PATCHDESK_NOW", t0)]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_ne!(refused.status.code(), Some(0), "{said}");
    assert!(
        said.contains("pd-01: needs a reboot to run the update: reboot it at this gate"),
        "{said}"
    );
    // The person reboots them at the gate: both come back on the new kernel, measured again.
    let t = Instant::now();
    let (st, code) = at(&cli, t0, &["deploy", "reboot", &id, "--json"]);
    eprintln!(
        "deploy reboot (2 hosts, one after the other) + measure again: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{st}");
    let canary = stage(&st, "canary");
    assert_eq!(
        (&canary["state"], &canary["verdict"]),
        (&"gate".into(), &"go".into()),
        "{canary}"
    );
    for (h, b) in CANARY.iter().zip(&boots) {
        let r = check(&st, "canary", h, "reboot");
        assert_eq!(r["status"], "passed", "{r}");
        assert!(
            r["value"]
                .as_str()
                .unwrap()
                .starts_with("rebooted: back after "),
            "{r}"
        );
        assert_ne!(&boot(h), b, "{h} booted again");
        assert_eq!(
            ssh(&fleet, h, "cat /proc/sys/kernel/osrelease").trim(),
            "5.10.0-2-pd"
        );
    }
    let audit = common::audit_rows(&cli);
    for h in CANARY {
        assert!(
            audit
                .iter()
                .any(|a| a.0 == h && a.1 == "reboot" && a.2 == "before")
                && audit
                    .iter()
                    .any(|a| a.0 == h && a.1 == "reboot" && a.2 == "after"),
            "{h}: the reboot is audited before and after: {audit:?}"
        );
    }
    // Nothing to reboot any more: asking again is harmless, and the gate is still go.
    let (st, code) = at(&cli, t0, &["deploy", "reboot", &id, "--json"]);
    assert_eq!(
        (code, stage(&st, "canary")["verdict"].as_str()),
        (0, Some("go")),
        "{st}"
    );
    let (st, code) = at(&cli, t0, &["deploy", "go", &id, "--json"]);
    assert_eq!((code, st["state"].as_str()), (0, Some("finished")), "{st}");
}
