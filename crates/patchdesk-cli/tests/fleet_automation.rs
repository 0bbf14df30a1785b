//! Automation end to end (issue #11): the real `patchdesk service run` process with its clock in
//! a file the test moves, the real fleet and real apt, feeds from a local HTTP server. A new
//! critical advisory synced → the canary patched within one runner tick, production untouched;
//! the clock past the soak → every wave to 100 % with nobody calling `deploy go`, and the
//! disclosure → canary → last-host times recorded; a failing smoke test under auto → halted,
//! rolled back, announced on a real notification daemon (dbusmock); `kill -9` of the service
//! mid-apply → the restarted one resumes, one apply per host; two runners on one database → one
//! deployment, one apply per host.

mod common;

use common::{installed, Cli, Fleet, Published};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An OSV advisory: `package` (source) fixed in `fixed`, CVSS 9.8 (critical) or 3.1 (low).
fn osv(id: &str, cve: &str, package: &str, fixed: &str, critical: bool, published: &str) -> Value {
    let vector = if critical {
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    } else {
        "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"
    };
    serde_json::json!({
        "schema_version": "1.6.0",
        "id": id,
        "aliases": [cve],
        "summary": format!("{package}: test advisory"),
        "published": published,
        "modified": published,
        "severity": [{"type": "CVSS_V3", "score": vector}],
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]
        }]
    })
}

/// The test's world: a database, a clock file every process reads, a feed folder served over
/// HTTP, and the `patchdesk service run` process (when started).
struct World {
    cli: Cli,
    clock: PathBuf,
    feeds: PathBuf,
    url: String,
    service: Option<Child>,
    /// The service runs inside `dbus-run-session` (its grandchild).
    in_session: bool,
    log: PathBuf,
}

impl World {
    fn new(fleet: &Fleet) -> World {
        let mut cli = Cli::with_fleet(fleet);
        let clock = cli.dir.path().join("clock");
        std::fs::write(&clock, "0").unwrap();
        cli.envs
            .push(("PATCHDESK_CLOCK_FILE".into(), clock.display().to_string()));
        let feeds = cli.dir.path().join("feeds");
        std::fs::create_dir_all(&feeds).unwrap();
        let port = common::serve_files(feeds.clone());
        let log = cli.dir.path().join("service.log");
        World {
            url: format!("http://127.0.0.1:{port}/feed.json"),
            cli,
            clock,
            feeds,
            service: None,
            in_session: false,
            log,
        }
    }

    fn feed(&self, advisories: &[Value]) {
        std::fs::write(
            self.feeds.join("feed.json"),
            serde_json::to_vec(advisories).unwrap(),
        )
        .unwrap();
    }

    /// The clock every process reads: the wall clock plus `secs`.
    fn set_offset(&self, secs: i64) {
        let tmp = self.clock.with_extension("tmp");
        std::fs::write(&tmp, format!("{secs}")).unwrap();
        std::fs::rename(&tmp, &self.clock).unwrap();
    }

    /// `patchdesk service run --tick 1`, optionally inside a D-Bus session with a notification
    /// daemon (dbusmock) logging to `notify_log`.
    fn start_service(&mut self, notify_log: Option<&Path>) {
        let bin = env!("CARGO_BIN_EXE_patchdesk");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut c = match notify_log {
            None => {
                let mut c = Command::new(bin);
                c.arg("--db")
                    .arg(&self.cli.db)
                    .args(["service", "run", "--tick", "1"]);
                c
            }
            Some(nl) => {
                let mut c = Command::new("dbus-run-session");
                c.args(["--", "bash", "-c"]).arg(format!(
                    r#"/usr/bin/python3 -m dbusmock --session --template notification_daemon -l '{}' >/dev/null 2>&1 &
for _ in $(seq 100); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null | grep -q 'boolean true' && break
  sleep 0.1
done
exec '{bin}' --db '{}' service run --tick 1"#,
                    nl.display(),
                    self.cli.db.display()
                ));
                c
            }
        };
        c.env_remove("PATCHDESK_KEY_PASSPHRASE")
            .env_remove("PATCHDESK_NOW");
        for (k, v) in &self.cli.envs {
            c.env(k, v);
        }
        let child = c
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.in_session = notify_log.is_some();
        self.service = Some(child);
    }

    /// SIGKILL the service (the process this test started, by its PID). Inside a D-Bus session
    /// the service (exec'd by the session's shell) gets SIGTERM, so that `dbus-run-session` ends
    /// its bus and the notification daemon with it.
    fn kill_service(&mut self) {
        let Some(mut c) = self.service.take() else {
            return;
        };
        if self.in_session {
            let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", c.id()))
                .unwrap_or_default();
            for pid in children.split_whitespace() {
                let _ = Command::new("kill").args(["-TERM", pid]).status();
            }
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    fn service_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn jobs(&self) -> Value {
        self.cli.json(&["jobs", "--json", "--limit", "100"])
    }

    fn status(&self, id: i64) -> Value {
        self.cli
            .json(&["deploy", "status", &id.to_string(), "--json"])
    }

    /// Wait (polling the database through the CLI) until `f` holds; panics with the service's
    /// log after `secs`.
    fn wait_for<T>(&self, what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "timed out after {secs}s waiting for {what}\nservice log:\n{}",
                self.service_log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn applies(&self, host: &str) -> i64 {
        let db = rusqlite::Connection::open(&self.cli.db).unwrap();
        db.query_row(
            "SELECT count(*) FROM audit_log WHERE host = ?1 AND action = 'apply' AND phase = 'before'",
            [host],
            |r| r.get(0),
        )
        .unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.kill_service();
    }
}

fn now_rfc3339(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn job_of<'a>(jobs: &'a Value, kind: &str) -> Vec<&'a Value> {
    jobs["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == kind)
        .collect()
}

fn finished(j: &Value) -> bool {
    !matches!(j["state"].as_str(), Some("queued" | "running"))
}

/// The policy action of the (only) auto-canary decision, once its job ended.
fn wait_for_action(w: &World) -> Value {
    w.wait_for("the auto-canary decision", 240, || {
        let o = w.jobs();
        let done = job_of(&o, "auto-canary").into_iter().any(finished);
        (done && !o["actions"].as_array().unwrap().is_empty()).then(|| o["actions"][0].clone())
    })
}

#[test]
fn a_new_critical_advisory_reaches_the_canary_in_one_tick_and_all_of_production_by_itself() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let mut w = World::new(&fleet);
    assert_eq!(
        w.cli.cmd(&["scan", "--all"]).status.code(),
        Some(2),
        "pd-06 is down"
    );
    // A feed PatchDesk already follows, with nothing critical in it yet.
    w.feed(&[osv(
        "DSA-7001-1",
        "CVE-2026-7001",
        "pd-agent",
        "2.0-1",
        false,
        &now_rfc3339(-86_400),
    )]);
    w.cli.ok(&["advisories", "sync", "--from", &w.url]);
    w.cli.ok(&[
        "deploy",
        "smoke",
        "--group",
        "web",
        "--set",
        "pd-hello-smoke",
    ]);
    let p = w.cli.json(&[
        "automation",
        "policy",
        "web",
        "--auto-canary",
        "on",
        "--soak-hours",
        "24",
        "--json",
    ]);
    assert_eq!(p["auto_canary"], true);
    w.start_service(None);
    // The service is up and idle: nothing critical, nothing planned.
    w.wait_for("the service's first tick", 60, || {
        w.service_log().contains("running (database").then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(w.jobs()["actions"].as_array().unwrap().is_empty());

    // Disclosure: a critical advisory for pd-hello appears in the feed.
    let disclosed = now_rfc3339(0);
    w.feed(&[
        osv(
            "DSA-7001-1",
            "CVE-2026-7001",
            "pd-agent",
            "2.0-1",
            false,
            &now_rfc3339(-86_400),
        ),
        osv(
            "DSA-7002-1",
            "CVE-2026-7002",
            "pd-hello",
            "1.1-1",
            true,
            &disclosed,
        ),
    ]);
    let sync = w
        .cli
        .json(&["jobs", "run", "feed-sync", "--wait", "--json"]);
    assert_eq!(sync["state"], "succeeded", "{sync}");
    let action = wait_for_action(&w);
    let o = w.jobs();
    let canary_job = job_of(&o, "auto-canary")[0].clone();
    // Within one runner tick: the decision is the job right after the sync, by the same runner.
    assert_eq!(
        canary_job["id"].as_i64().unwrap(),
        sync["id"].as_i64().unwrap() + 1,
        "{o}"
    );
    assert_eq!(canary_job["runner"], sync["runner"]);
    assert_eq!(canary_job["who"], "policy");
    assert_eq!(canary_job["state"], "succeeded", "{canary_job}");
    assert_eq!(action["outcome"], "started", "{action}");
    assert_eq!(action["cves"], serde_json::json!(["CVE-2026-7002"]));
    let id = action["deployment_id"].as_i64().unwrap();
    // The non-prod hosts really carry the fixed version; production is untouched.
    assert_eq!(installed(&fleet, "pd-01", "pd-hello"), "1.1-1");
    assert_eq!(installed(&fleet, "pd-02", "pd-hello"), "1.1-1");
    assert_eq!(installed(&fleet, "pd-03", "pd-hello"), "1.0-2");
    assert_eq!(installed(&fleet, "pd-05", "pd-hello"), "1.0-1");
    let st = w.status(id);
    assert_eq!(
        (st["mode"].as_str(), st["state"].as_str()),
        (Some("auto"), Some("running"))
    );
    assert_eq!(common::stage(&st, "canary")["state"], "soaking", "{st}");
    let to_canary = action["disclosure_to_canary_secs"].as_i64().unwrap();
    assert!((0..24 * 3600).contains(&to_canary), "{action}");

    // 25 hours later, nobody says go: the soak ends, the healthy gates pass by themselves.
    w.set_offset(25 * 3600);
    let st = w.wait_for("the deployment to finish", 300, || {
        let st = w.status(id);
        matches!(
            st["state"].as_str(),
            Some("finished" | "halted" | "rolled-back")
        )
        .then_some(st)
    });
    assert_eq!(st["state"], "finished", "{st}");
    for s in st["stages"].as_array().unwrap() {
        assert_eq!(
            (s["decision"].as_str(), s["decided_by"].as_str()),
            (Some("go"), Some("auto")),
            "{s}"
        );
    }
    for h in ["pd-01", "pd-02", "pd-03", "pd-05"] {
        assert_eq!(installed(&fleet, h, "pd-hello"), "1.1-1", "{h}");
        assert_eq!(w.applies(h), 1, "{h}: one apply");
    }
    let db = rusqlite::Connection::open(&w.cli.db).unwrap();
    let (gates, by_people): (i64, i64) = db
        .query_row(
            "SELECT count(*), coalesce(sum(actor != 'auto'), 0) FROM audit_log WHERE action LIKE 'gate-%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (gates, by_people),
        (3, 0),
        "three gates, every one decided by auto mode"
    );
    let action = w.wait_for("the time to patch", 30, || {
        let a = w.jobs()["actions"][0].clone();
        a["disclosure_to_done_secs"].as_i64().map(|_| a)
    });
    let to_done = action["disclosure_to_done_secs"].as_i64().unwrap();
    assert!((24 * 3600..26 * 3600).contains(&to_done), "{action}");
    eprintln!(
        "MEASURED disclosure → canary: {to_canary} s; disclosure → 100 %: {to_done} s ({:.2} h) (clock injected: +25 h at the soak)",
        to_done as f64 / 3600.0
    );
    // Shown: `patchdesk jobs` prints the two figures.
    let text = w.cli.ok(&["jobs"]);
    assert!(
        text.contains("auto-canary decisions") && text.contains("CVE-2026-7002"),
        "{text}"
    );
    assert!(
        w.service_log()
            .contains("notice: Canary started for CVE-2026-7002 in web"),
        "{}",
        w.service_log()
    );
    assert!(w.service_log().contains("finished"), "{}", w.service_log());
    w.kill_service();
    let rb = w
        .cli
        .json(&["deploy", "rollback", &id.to_string(), "--json"]);
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    assert_eq!(installed(&fleet, "pd-03", "pd-hello"), "1.0-2");
}

#[test]
fn a_failing_smoke_test_under_auto_halts_rolls_back_and_is_announced() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _p = Published::new(
        &fleet,
        &[&[
            "pd-tools",
            "2.4-1",
            "--suite",
            "bookworm-security",
            "--smoke-fail",
        ]],
        &["pd-01", "pd-02", "pd-03"],
    );
    let mut w = World::new(&fleet);
    assert_eq!(w.cli.cmd(&["scan", "--all"]).status.code(), Some(2));
    w.feed(&[osv(
        "DSA-7001-1",
        "CVE-2026-7001",
        "pd-agent",
        "2.0-1",
        false,
        &now_rfc3339(-86_400),
    )]);
    w.cli.ok(&["advisories", "sync", "--from", &w.url]);
    w.cli.ok(&[
        "deploy",
        "smoke",
        "--group",
        "web",
        "--set",
        "pd-tools-smoke",
    ]);
    w.cli
        .ok(&["automation", "policy", "web", "--auto-canary", "on"]);
    let notify_log = w.cli.dir.path().join("notify.log");
    w.start_service(Some(&notify_log));
    w.wait_for("the service", 60, || {
        w.service_log().contains("running (database").then_some(())
    });
    w.feed(&[osv(
        "DSA-7003-1",
        "CVE-2026-7003",
        "pd-tools",
        "2.4-1",
        true,
        &now_rfc3339(0),
    )]);
    w.cli
        .json(&["jobs", "run", "feed-sync", "--wait", "--json"]);
    let action = wait_for_action(&w);
    let id = action["deployment_id"]
        .as_i64()
        .expect("planned and started");
    let st = w.wait_for("the halt", 120, || {
        let st = w.status(id);
        (st["state"] == "rolled-back" || st["state"] == "halted").then_some(st)
    });
    assert_eq!(st["state"], "rolled-back", "{st}");
    let canary = common::stage(&st, "canary");
    assert_eq!(canary["decision"], "no-go");
    assert!(
        canary["reasons"].to_string().contains("pd-tools-smoke"),
        "{canary}"
    );
    assert_eq!(
        installed(&fleet, "pd-01", "pd-tools"),
        "2.0-1",
        "rolled back"
    );
    assert_eq!(
        installed(&fleet, "pd-03", "pd-tools"),
        "2.1-1",
        "production never touched"
    );
    // Announced on the session bus: the real notification daemon's log.
    let log = w.wait_for("the notifications", 30, || {
        let l = std::fs::read_to_string(&notify_log).unwrap_or_default();
        (l.contains("halted at the canary gate") && l.contains("rollback done")).then_some(l)
    });
    assert!(
        log.contains("Canary started for CVE-2026-7003 in web"),
        "{log}"
    );
    let a = w.jobs()["actions"][0].clone();
    assert!(
        a["halt_reason"]
            .as_str()
            .unwrap()
            .contains("no-go at the canary gate"),
        "{a}"
    );
}

#[test]
fn kill_9_of_the_service_mid_apply_resumes_with_one_apply_per_host() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _p = Published::new(
        &fleet,
        &[&[
            "pd-tools",
            "2.3-1",
            "--suite",
            "bookworm-security",
            "--slow",
        ]],
        &["pd-01", "pd-02", "pd-03"],
    );
    let mut w = World::new(&fleet);
    assert_eq!(w.cli.cmd(&["scan", "--all"]).status.code(), Some(2));
    w.feed(&[osv(
        "DSA-7001-1",
        "CVE-2026-7001",
        "pd-agent",
        "2.0-1",
        false,
        &now_rfc3339(-86_400),
    )]);
    w.cli.ok(&["advisories", "sync", "--from", &w.url]);
    w.cli.ok(&[
        "automation",
        "policy",
        "canary",
        "--auto-canary",
        "on",
        "--soak-hours",
        "0",
    ]);
    w.start_service(None);
    w.wait_for("the service", 60, || {
        w.service_log().contains("running (database").then_some(())
    });
    w.feed(&[osv(
        "DSA-7004-1",
        "CVE-2026-7004",
        "pd-tools",
        "2.3-1",
        true,
        &now_rfc3339(0),
    )]);
    w.cli.ok(&["jobs", "run", "feed-sync"]);
    // Killed while pd-01's (slow) apply runs.
    w.wait_for("pd-01's apply", 120, || {
        (w.applies("pd-01") > 0).then_some(())
    });
    std::thread::sleep(Duration::from_millis(1500));
    w.kill_service();
    let db = rusqlite::Connection::open(&w.cli.db).unwrap();
    let host_state: String = db
        .query_row(
            "SELECT d.state FROM deployment_hosts d JOIN hosts h ON h.id = d.host_id WHERE h.name = 'pd-01'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        host_state, "applying",
        "killed in the middle of pd-01's apply"
    );
    std::thread::sleep(Duration::from_secs(5)); // the apply on the host finishes by itself
    w.start_service(None);
    let id: i64 = db
        .query_row("SELECT max(id) FROM deployments", [], |r| r.get(0))
        .unwrap();
    let st = w.wait_for("the resumed deployment to finish", 180, || {
        let st = w.status(id);
        matches!(
            st["state"].as_str(),
            Some("finished" | "halted" | "rolled-back")
        )
        .then_some(st)
    });
    assert_eq!(st["state"], "finished", "{st}");
    assert_eq!(installed(&fleet, "pd-01", "pd-tools"), "2.3-1");
    assert_eq!(installed(&fleet, "pd-02", "pd-tools"), "2.3-1");
    assert_eq!(
        (w.applies("pd-01"), w.applies("pd-02")),
        (1, 1),
        "nothing repeated"
    );
    let o = w.jobs();
    let interrupted = job_of(&o, "auto-canary");
    assert_eq!(interrupted[0]["state"], "interrupted", "{o}");
    assert!(
        job_of(&o, "deployment-advance")
            .iter()
            .any(|j| j["state"] == "succeeded"),
        "the restarted runner advanced it: {o}"
    );
    w.kill_service();
    let rb = w
        .cli
        .json(&["deploy", "rollback", &id.to_string(), "--json"]);
    assert_eq!(rb["state"], "rolled-back", "{rb}");
}

/// The outcome with two real runner processes on one database: one deployment, one apply per
/// host. The job claim itself (`jobs::begin`) is unit-tested in `jobs::tests`; this test also
/// passed once with the claim disabled (the deployment's own stored state kept the second runner
/// from applying again in that run), so it checks the outcome, not the claim alone.
#[test]
fn two_runners_on_one_database_start_and_advance_each_deployment_once() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _p = Published::new(
        &fleet,
        &[&["pd-tools", "2.5-1", "--suite", "bookworm-security"]],
        &["pd-01", "pd-02", "pd-03"],
    );
    let mut w = World::new(&fleet);
    assert_eq!(w.cli.cmd(&["scan", "--all"]).status.code(), Some(2));
    w.feed(&[osv(
        "DSA-7001-1",
        "CVE-2026-7001",
        "pd-agent",
        "2.0-1",
        false,
        &now_rfc3339(-86_400),
    )]);
    w.cli.ok(&["advisories", "sync", "--from", &w.url]);
    w.cli.ok(&[
        "automation",
        "policy",
        "canary",
        "--auto-canary",
        "on",
        "--soak-hours",
        "0",
    ]);
    // Two runners on the same database (as the app and `service run` would be).
    w.start_service(None);
    let bin = env!("CARGO_BIN_EXE_patchdesk");
    let mut second = Command::new(bin);
    second
        .arg("--db")
        .arg(&w.cli.db)
        .args(["service", "run", "--tick", "1"])
        .env_remove("PATCHDESK_NOW");
    for (k, v) in &w.cli.envs {
        second.env(k, v);
    }
    let log2 = w.cli.dir.path().join("second.log");
    let mut second = second
        .stdout(std::fs::File::create(&log2).unwrap())
        .stderr(std::fs::File::options().append(true).open(&log2).unwrap())
        .spawn()
        .unwrap();
    w.wait_for("both runners", 60, || {
        (w.service_log().contains("running (database")
            && std::fs::read_to_string(&log2)
                .unwrap_or_default()
                .contains("running (database"))
        .then_some(())
    });
    w.feed(&[osv(
        "DSA-7005-1",
        "CVE-2026-7005",
        "pd-tools",
        "2.5-1",
        true,
        &now_rfc3339(0),
    )]);
    w.cli.ok(&["jobs", "run", "feed-sync"]);
    let action = wait_for_action(&w);
    let id = action["deployment_id"].as_i64().expect("planned");
    let st = w.wait_for("the deployment to finish", 180, || {
        let st = w.status(id);
        matches!(
            st["state"].as_str(),
            Some("finished" | "halted" | "rolled-back")
        )
        .then_some(st)
    });
    let _ = second.kill();
    let _ = second.wait();
    w.kill_service();
    assert_eq!(st["state"], "finished", "{st}");
    let db = rusqlite::Connection::open(&w.cli.db).unwrap();
    let deployments: i64 = db
        .query_row("SELECT count(*) FROM deployments", [], |r| r.get(0))
        .unwrap();
    assert_eq!(deployments, 1, "planned once");
    assert_eq!(
        (w.applies("pd-01"), w.applies("pd-02")),
        (1, 1),
        "one apply per host"
    );
    assert_eq!(installed(&fleet, "pd-01", "pd-tools"), "2.5-1");
    let rb = w
        .cli
        .json(&["deploy", "rollback", &id.to_string(), "--json"]);
    assert_eq!(rb["state"], "rolled-back", "{rb}");
}
