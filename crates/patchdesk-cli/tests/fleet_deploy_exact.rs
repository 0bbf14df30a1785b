//! Deployments that are exactly right, on the real fleet with real apt: the whole transaction
//! (a dependency the upgrade pulls in, a package it newly installs, one it removes) planned,
//! verified and rolled back to a host identical to before (read over plain ssh); a resume after
//! `kill -9` mid maintainer script that waits for the running dpkg and closes the audit record;
//! a host in attention that blocks the end until repaired or excluded with a reason; a soak
//! crossed with the clock; a go at a no-go gate refused, and an override recorded.

mod common;

use common::{
    at, audit_rows, deploy_plan, installed, package_state, planned, scanned_cli, stage, Cli, Fleet,
    Published,
};
use serde_json::Value;
use std::time::{Duration, Instant};

const T0: &str = "2026-11-24T12:00:00Z";

fn host<'a>(st: &'a Value, name: &str) -> &'a Value {
    st["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["hosts"].as_array().unwrap())
        .find(|h| h["host"] == name)
        .unwrap_or_else(|| panic!("no host {name}: {st}"))
}

fn changes(v: &Value, host: &str) -> Vec<String> {
    v["transaction"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["host"] == host)
        .map(|c| {
            format!(
                "{} {} {} → {} requested={} rollback={}",
                c["kind"].as_str().unwrap(),
                c["package"].as_str().unwrap(),
                c["from_version"].as_str().unwrap_or("none"),
                c["to_version"].as_str().unwrap_or("none"),
                c["requested"],
                c["rollback"].as_str().unwrap()
            )
        })
        .collect()
}

/// Rolls a deployment back when dropped, so that a failing test leaves the fleet as it was.
struct RollbackOnDrop<'a>(&'a Cli, String);

impl Drop for RollbackOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(&["deploy", "rollback", &self.1]);
    }
}

/// Runs a cleanup when dropped (also when the test fails).
struct Cleanup<F: FnMut()>(F);

impl<F: FnMut()> Drop for Cleanup<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

#[test]
fn the_whole_transaction_is_planned_verified_and_rolled_back_to_an_identical_host() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let hosts = ["pd-01", "pd-02", "pd-05"];
    let _published = Published::new(
        &fleet,
        &[
            &["pd-libfoo1", "1:3.1-1"],
            &["pd-libbar1", "1.0-1"],
            &[
                "pd-daemon",
                "1.2-1",
                "--depends",
                "pd-libfoo1 (>= 1:3.1-1), pd-libbar1",
            ],
        ],
        &hosts,
    );
    let before: Vec<String> = hosts.iter().map(|h| package_state(&fleet, h)).collect();
    let cli = scanned_cli(&fleet, T0);

    // The plan review (CLI text) names every package of every host's transaction.
    let out = cli.cmd_with(
        &[
            "deploy",
            "plan",
            "--name",
            "daemon",
            "--scope",
            "office",
            "--package",
            "pd-daemon",
            "--soak-hours",
            "1",
        ],
        &[("PATCHDESK_NOW", T0)],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        "pd-daemon 1.0-1 → 1.2-1",
        "named",
        "pd-libfoo1 1:3.0-1 → 1:3.1-1",
        "pulled in by apt",
        "rollback: downgrade to 1:3.0-1",
        "pd-libbar1 (new) → 1.0-1",
        "new, pulled in by apt",
        "rollback: purge (installed by the upgrade)",
        "rollback pd-05: ok (downgrade to pd-daemon=1.0-1 pd-libfoo1=1:3.0-1; purge pd-libbar1 (installed by the upgrade))",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    let id: String = text
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<i64>()
        .unwrap()
        .to_string();
    let _undo = RollbackOnDrop(&cli, id.clone());
    let st = cli.json(&["deploy", "status", &id, "--json"]);
    let by_host = |st: &Value, h: &str| -> Vec<String> {
        host(st, h)["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} → {}",
                    c["kind"].as_str().unwrap(),
                    c["package"].as_str().unwrap(),
                    c["from_version"].as_str().unwrap_or("none"),
                    c["to_version"].as_str().unwrap_or("none")
                )
            })
            .collect()
    };
    for h in hosts {
        assert_eq!(
            by_host(&st, h),
            [
                "upgrade pd-daemon 1.0-1 → 1.2-1",
                "install pd-libbar1 none → 1.0-1",
                "upgrade pd-libfoo1 1:3.0-1 → 1:3.1-1"
            ],
            "{h}: the whole transaction is stored"
        );
    }

    // Canary: the whole transaction applied, exactly, in one audited command.
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    assert_eq!(stage(&st, "canary")["state"], "soaking", "{st}");
    for h in ["pd-01", "pd-02"] {
        assert_eq!(installed(&fleet, h, "pd-daemon"), "1.2-1");
        assert_eq!(installed(&fleet, h, "pd-libfoo1"), "1:3.1-1");
        assert_eq!(installed(&fleet, h, "pd-libbar1"), "1.0-1");
    }
    let auto = fleet.exec("pd-01", &["apt-mark", "showauto"]);
    assert_eq!(
        auto.trim(),
        "pd-libbar1",
        "the package apt pulled in is marked automatic, as apt itself would"
    );
    let db = rusqlite::Connection::open(&cli.db).unwrap();
    let cmd: String = db
        .query_row(
            "SELECT command FROM audit_log WHERE host = 'pd-01' AND action = 'apply' AND phase = 'before'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        cmd.contains("pd-daemon=1.2-1 pd-libbar1=1.0-1 pd-libfoo1=1:3.1-1")
            && cmd.contains("--no-remove"),
        "every exact version named, nothing left to apt's choice: {cmd}"
    );

    // During the soak someone removes a package the upgrade pulled in: the end-of-soak check
    // (measured when the gate is decided) sees it, and a plain go is refused.
    fleet.exec(
        "pd-02",
        &["dpkg", "--purge", "--force-depends", "pd-libbar1"],
    );
    let t1 = "2026-11-24T13:30:00Z";
    let (st, _) = at(&cli, t1, &["deploy", "status", &id, "--json"]);
    assert_eq!(
        stage(&st, "canary")["state"],
        "gate",
        "the soak is over: {st}"
    );
    let go = cli.cmd_with(&["deploy", "go", &id], &[("PATCHDESK_NOW", t1)]);
    let err = String::from_utf8_lossy(&go.stderr);
    assert_eq!(go.status.code(), Some(1), "{err}");
    assert!(
        err.contains("NO-GO pd-02: pd-libbar1 1.0-1 is not installed (has none)")
            && err.contains("a plain go is refused"),
        "{err}"
    );
    let (st, code) = at(
        &cli,
        t1,
        &[
            "deploy",
            "go",
            &id,
            "--override-no-go",
            "--reason",
            "pd-libbar1 removed on purpose on pd-02",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{st}");
    assert_eq!(stage(&st, "5%")["state"], "gate", "{st}");
    assert_eq!(installed(&fleet, "pd-05", "pd-libbar1"), "1.0-1");
    let (st, code) = at(&cli, t1, &["deploy", "go", &id, "--json"]);
    assert_eq!((st["state"].as_str(), code), (Some("finished"), 0), "{st}");

    // Roll everything back: every host is again exactly what it was, package for package.
    let (rb, _) = at(
        &cli,
        "2026-11-24T14:00:00Z",
        &["deploy", "rollback", &id, "--json"],
    );
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    let after: Vec<String> = hosts.iter().map(|h| package_state(&fleet, h)).collect();
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(
            before[i], after[i],
            "{h}: dpkg-query and apt-mark before = after"
        );
    }
    let rows = audit_rows(&cli);
    let n = |phase: &str| {
        rows.iter()
            .filter(|r| ["apply", "rollback"].contains(&r.1.as_str()) && r.2 == phase)
            .count()
    };
    assert_eq!((n("before"), n("after")), (6, 6), "{rows:?}");
}

#[test]
fn a_transaction_that_removes_a_package_is_refused_unless_overridden_and_rolls_back_exactly() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let hosts = ["pd-01", "pd-02"];
    let _published = Published::new(
        &fleet,
        &[&["pd-tools", "2.4-1", "--conflicts", "pd-agent"]],
        &hosts,
    );
    let before: Vec<String> = hosts.iter().map(|h| package_state(&fleet, h)).collect();
    let cli = scanned_cli(&fleet, T0);
    let args = [
        "--name",
        "tools",
        "--scope",
        "canary",
        "--package",
        "pd-tools",
        "--soak-hours",
        "0",
    ];
    let out = cli.cmd_with(
        &[&["deploy", "plan"][..], &args[..]].concat(),
        &[("PATCHDESK_NOW", T0)],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(
        stdout.contains("BLOCKED removes-packages: the transaction removes packages (pd-01: pd-agent 2.0~rc1-1 → (removed); pd-02: pd-agent 2.0~rc1-1 → (removed))"),
        "{stdout}"
    );
    assert!(
        stdout.contains("REMOVED by apt") && stdout.contains("rollback: reinstall 2.0~rc1-1"),
        "{stdout}"
    );
    assert!(stderr.contains("nothing was stored"), "{stderr}");
    assert_eq!(
        cli.json(&["deploy", "list", "--json"]),
        Value::Array(vec![])
    );

    let mut with = args.to_vec();
    with.extend([
        "--override",
        "removes-packages=pd-agent is replaced by pd-tools 2.4",
    ]);
    let (p, code) = deploy_plan(&cli, T0, &with);
    assert_eq!(code, 0, "{p}");
    assert!(
        changes(&p, "pd-01").contains(
            &"remove pd-agent 2.0~rc1-1 → none requested=false rollback=reinstall 2.0~rc1-1"
                .to_string()
        ),
        "{:?}",
        changes(&p, "pd-01")
    );
    let id = p["deployment_id"].as_i64().unwrap().to_string();
    let _undo = RollbackOnDrop(&cli, id.clone());
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    assert_eq!(stage(&st, "canary")["state"], "gate", "{st}");
    assert_eq!(stage(&st, "canary")["verdict"], "go", "{st}");
    let gone = fleet.exec(
        "pd-01",
        &["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "pd-agent"],
    );
    assert!(
        !gone.starts_with("ii"),
        "apt removed pd-agent as planned: {gone}"
    );
    assert_eq!(installed(&fleet, "pd-01", "pd-tools"), "2.4-1");
    let (rb, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(
            before[i],
            package_state(&fleet, h),
            "{h}: pd-agent reinstalled at its exact version, pd-tools back"
        );
    }
}

#[test]
fn kill_9_mid_maintainer_script_resume_waits_for_dpkg_then_finishes_with_the_audit_closed() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let hosts = ["pd-01", "pd-02"];
    let _published = Published::new(&fleet, &[&["pd-tools", "2.6-1", "--sleep", "5"]], &hosts);
    let cli = scanned_cli(&fleet, T0);
    let (_, id) = planned(
        &cli,
        T0,
        &[
            "--name",
            "slow",
            "--scope",
            "canary",
            "--package",
            "pd-tools",
            "--soak-hours",
            "0",
        ],
    );
    let _undo = RollbackOnDrop(&cli, id.clone());
    let spawn = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_patchdesk"))
            .arg("--db")
            .arg(&cli.db)
            .args(args)
            .env("PATCHDESK_NOW", T0)
            .env("HOME", "/nonexistent-home")
            .env("SSH_AUTH_SOCK", "/nonexistent")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut driver = spawn(&["deploy", "start", &id, "--json"]);
    // Kill the driver while pd-01's maintainer script is running (it marks itself on the host).
    let marker = fleet.host("pd-01").root.join("var/lib/pd-slow/pd-tools");
    let start = Instant::now();
    while !marker.exists() && start.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(marker.exists(), "pd-01's postinst started");
    driver.kill().unwrap(); // SIGKILL
    driver.wait().unwrap();
    // Resume at once: dpkg is still configuring pd-tools on pd-01.
    let resume = spawn(&["deploy", "start", &id, "--json"]);
    let mut note = None;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let (st, _) = at(&cli, T0, &["deploy", "status", &id, "--json"]);
        if let Some(n) = host(&st, "pd-01")["note"].as_str() {
            note = Some(n.to_string());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = resume.wait_with_output().unwrap();
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let note = note.expect("the status showed pd-01 waiting for dpkg");
    assert!(
        note.starts_with("waiting for dpkg to finish (process ")
            && note.contains("holds the dpkg lock"),
        "{note}"
    );
    assert!(
        stderr.contains("pd-01: waiting for dpkg to finish"),
        "the progress says so too: {stderr}"
    );
    assert!(
        stderr.contains("pd-01: the interrupted apply had completed: verified, not repeated"),
        "{stderr}"
    );
    assert_eq!(stage(&st, "canary")["state"], "gate", "{st}");
    assert_eq!(stage(&st, "canary")["verdict"], "go", "{st}");
    assert_eq!(host(&st, "pd-01")["note"], Value::Null);
    for h in hosts {
        assert_eq!(installed(&fleet, h, "pd-tools"), "2.6-1", "{h}");
        assert_eq!(
            fleet.exec(h, &["dpkg", "--audit"]).trim(),
            "",
            "{h}: configured"
        );
    }
    let rows = audit_rows(&cli);
    let applies: Vec<_> = rows
        .iter()
        .filter(|r| r.0 == "pd-01" && r.1 == "apply")
        .collect();
    assert_eq!(applies.len(), 2, "one before, one after: {applies:?}");
    assert_eq!(applies[1].2, "after");
    assert!(
        applies[1].4.starts_with("established on resume: completed"),
        "{applies:?}"
    );
    let (st, code) = at(&cli, T0, &["deploy", "go", &id, "--json"]);
    assert_eq!((st["state"].as_str(), code), (Some("finished"), 0), "{st}");
    for h in hosts {
        assert_eq!(host(&st, h)["state"], "applied", "{st}");
    }
    let (rb, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    let rows = audit_rows(&cli);
    let count = |phase: &str| {
        rows.iter()
            .filter(|r| r.2 == phase && r.1 != "deployment-exclude")
            .count()
    };
    assert_eq!(
        count("before"),
        count("after"),
        "every audit record closed: {rows:?}"
    );
}

/// As if PatchDesk was killed while `host` was applying: the deployment running, the host
/// `applying`, its apply audited "before" with no "after".
fn interrupt(cli: &Cli, id: &str, host: &str) {
    let db = rusqlite::Connection::open(&cli.db).unwrap();
    db.execute(
        "UPDATE deployments SET state = 'running' WHERE id = ?1",
        [id],
    )
    .unwrap();
    db.execute(
        "UPDATE deployment_hosts SET state = 'applying' WHERE deployment_id = ?1 AND host_id = (SELECT id FROM hosts WHERE name = ?2)",
        rusqlite::params![id, host],
    )
    .unwrap();
    db.execute(
        "INSERT INTO audit_log (at, actor, host, action, phase, command) VALUES (?1, 'patchdesk', ?2, 'apply', 'before', 'apt-get install … (interrupted)')",
        rusqlite::params![T0, host],
    )
    .unwrap();
}

#[test]
fn a_host_in_attention_blocks_the_end_until_it_is_excluded_or_repaired() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    let args = [
        "--name",
        "hello",
        "--scope",
        "canary",
        "--package",
        "pd-hello",
        "--soak-hours",
        "0",
    ];
    // dpkg left a package half-installed on pd-02 (unpacked, never configured).
    let broken = "/srv/patchdesk-repo/pool/bookworm/pd-tools_2.1-1_all.deb";
    let repair = || {
        fleet.exec("pd-02", &["dpkg", "--configure", "-a"]);
        fleet.exec(
            "pd-02",
            &[
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--allow-downgrades",
                "pd-tools=2.0-1",
            ],
        );
    };

    // Whatever happens, pd-01 and pd-02 end as the fleet made them.
    let _fix = Cleanup(|| {
        for h in ["pd-01", "pd-02"] {
            let _ = std::process::Command::new("bash")
                .arg(&fleet.script)
                .args(["exec", h, "--", "sh", "-c", "dpkg --configure -a; apt-get install -y -qq --allow-downgrades pd-tools=2.0-1 pd-hello=1.0-1"])
                .output();
        }
    });

    // 1. Excluded with a reason.
    let (_, id) = planned(&cli, T0, &args);
    interrupt(&cli, &id, "pd-02");
    fleet.exec("pd-02", &["dpkg", "--unpack", broken]);
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    let pd02 = host(&st, "pd-02");
    assert_eq!(pd02["state"], "attention", "{st}");
    assert!(
        pd02["error"].as_str().unwrap().starts_with(
            "dpkg --audit reports packages left half-installed (The following packages"
        ),
        "{pd02}"
    );
    let (st, code) = at(
        &cli,
        T0,
        &[
            "deploy",
            "go",
            &id,
            "--override-no-go",
            "--reason",
            "pd-02 is handled by hand",
            "--json",
        ],
    );
    assert_eq!(
        (st["state"].as_str(), code),
        (Some("running"), 0),
        "blocked: {st}"
    );
    let waiting = st["waiting_for"].as_str().unwrap();
    assert!(
        waiting.starts_with("pd-02 to be repaired or excluded before the deployment can finish")
            && waiting.contains(&format!("patchdesk deploy exclude {id} --host pd-02")),
        "{waiting}"
    );
    // Re-checked on every advance: still broken, still blocking.
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    assert_eq!(st["state"], "running", "{st}");
    assert_eq!(host(&st, "pd-02")["state"], "attention");
    let refused = cli.cmd(&["deploy", "exclude", &id, "--host", "pd-02", "--reason", " "]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("needs a written reason"));
    let refused = cli.cmd(&["deploy", "exclude", &id, "--host", "pd-01", "--reason", "x"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("pd-01 is applied in deployment"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let (st, code) = at(
        &cli,
        T0,
        &[
            "deploy",
            "exclude",
            &id,
            "--host",
            "pd-02",
            "--reason",
            "rebuilt from scratch next week",
            "--json",
        ],
    );
    assert_eq!((st["state"].as_str(), code), (Some("finished"), 0), "{st}");
    assert_eq!(
        host(&st, "pd-02")["excluded"],
        "rebuilt from scratch next week"
    );
    let text = cli.ok(&["deploy", "status", &id]);
    assert!(
        text.contains("pd-02: excluded (rebuilt from scratch next week)")
            && text.contains("[go, overriding the engine's no-go: pd-02 is handled by hand]"),
        "{text}"
    );
    let rows = audit_rows(&cli);
    assert!(
        rows.iter().any(|r| r.0 == "pd-02"
            && r.1 == "deployment-exclude"
            && r.4.contains("rebuilt from scratch next week")),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.0 == "pd-02"
            && r.1 == "apply"
            && r.2 == "after"
            && r.4
                .starts_with("outcome not established: the host was excluded")),
        "the interrupted apply's record is closed: {rows:?}"
    );
    repair();
    let (rb, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    assert_eq!(installed(&fleet, "pd-01", "pd-hello"), "1.0-1");
    assert_eq!(
        host(&rb, "pd-02")["state"],
        "attention",
        "an excluded host is not rolled back unless named"
    );

    // 2. Repaired: the apply had in fact completed; once dpkg is repaired the next advance
    // verifies it, closes its audit record as repaired, and the deployment finishes.
    let out = cli.cmd_with(&["scan", "pd-01", "pd-02"], &[("PATCHDESK_NOW", T0)]);
    assert_eq!(out.status.code(), Some(0));
    let (_, id) = planned(&cli, T0, &args);
    interrupt(&cli, &id, "pd-02");
    fleet.exec(
        "pd-02",
        &["apt-get", "install", "-y", "-qq", "pd-hello=1.1-1"],
    );
    fleet.exec("pd-02", &["dpkg", "--unpack", broken]);
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    assert_eq!(host(&st, "pd-02")["state"], "attention", "{st}");
    let (st, _) = at(
        &cli,
        T0,
        &[
            "deploy",
            "go",
            &id,
            "--override-no-go",
            "--reason",
            "repairing pd-02",
            "--json",
        ],
    );
    assert_eq!(st["state"], "running", "{st}");
    repair();
    let (st, code) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    assert_eq!((st["state"].as_str(), code), (Some("finished"), 0), "{st}");
    assert_eq!(host(&st, "pd-02")["state"], "applied", "{st}");
    let rows = audit_rows(&cli);
    assert!(
        rows.iter().any(|r| r.0 == "pd-02"
            && r.1 == "apply"
            && r.2 == "after"
            && r.4.starts_with("established on resume: repaired")),
        "{rows:?}"
    );
    let (rb, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    for h in ["pd-01", "pd-02"] {
        assert_eq!(installed(&fleet, h, "pd-hello"), "1.0-1", "{h}");
        assert_eq!(installed(&fleet, h, "pd-tools"), "2.0-1", "{h}");
    }
}

#[test]
fn a_soak_crossed_with_the_clock_is_a_gate_without_another_start() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    let (_, id) = planned(
        &cli,
        T0,
        &[
            "--name",
            "soak",
            "--scope",
            "canary",
            "--package",
            "pd-hello",
        ],
    );
    let _undo = RollbackOnDrop(&cli, id.clone());
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    assert_eq!(stage(&st, "canary")["state"], "soaking", "{st}");
    let later = "2026-11-25T13:00:00Z"; // 25 h: the 24 h soak ended an hour ago
    let (st, _) = at(&cli, later, &["deploy", "status", &id, "--json"]);
    let canary = stage(&st, "canary");
    assert_eq!(canary["state"], "gate", "{st}");
    assert_eq!(canary["soak_seconds_left"], 0, "never negative");
    assert_eq!(
        st["waiting_for"],
        "your go / no-go on the canary gate (the soak is over)"
    );
    let text = String::from_utf8_lossy(
        &cli.cmd_with(&["deploy", "status", &id], &[("PATCHDESK_NOW", later)])
            .stdout,
    )
    .to_string();
    assert!(!text.contains("-1h") && !text.contains("left)"), "{text}");
    let list = String::from_utf8_lossy(
        &cli.cmd_with(&["deploy", "list"], &[("PATCHDESK_NOW", later)])
            .stdout,
    )
    .to_string();
    assert!(
        list.contains("your go / no-go on the canary gate"),
        "{list}"
    );
    // Go at once: the end-of-soak check runs, then the decision.
    let (st, code) = at(&cli, later, &["deploy", "go", &id, "--json"]);
    assert_eq!((st["state"].as_str(), code), (Some("finished"), 0), "{st}");
    let canary = stage(&st, "canary");
    assert_eq!(canary["decision"], "go");
    // Measured again at the end of the soak: every host's checklist is there, the systemd checks
    // said "not available" in the checklist (never as a gate reason).
    for h in canary["hosts"].as_array().unwrap() {
        let checks = h["checks"].to_string();
        assert!(
            checks.contains("\"reachable\"")
                && checks.contains("not available on this host (no systemd)"),
            "measured again at the end of the soak: {canary}"
        );
    }
    assert!(
        !canary["reasons"].to_string().contains("not available"),
        "{canary}"
    );
    let (rb, _) = at(&cli, later, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(rb["state"], "rolled-back", "{rb}");
}

#[test]
fn go_at_a_no_go_gate_is_refused_and_an_override_needs_a_reason_that_is_recorded() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    let (_, id) = planned(
        &cli,
        T0,
        &[
            "--name",
            "nogo",
            "--scope",
            "canary",
            "--package",
            "pd-hello",
            "--soak-hours",
            "0",
            "--smoke",
            "test -e /etc/pd-missing.conf",
        ],
    );
    let _undo = RollbackOnDrop(&cli, id.clone());
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    assert_eq!(stage(&st, "canary")["verdict"], "no-go", "{st}");
    let plain = cli.cmd_with(&["deploy", "go", &id], &[("PATCHDESK_NOW", T0)]);
    let err = String::from_utf8_lossy(&plain.stderr).to_string();
    assert_eq!(plain.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the canary gate of deployment")
            && err.contains(
                "is no-go (NO-GO pd-01: smoke test `test -e /etc/pd-missing.conf` failed (exit 1)"
            )
            && err.contains("a plain go is refused")
            && err.contains(&format!(
                "patchdesk deploy go {id} --override-no-go --reason"
            )),
        "{err}"
    );
    let (st, _) = at(&cli, T0, &["deploy", "status", &id, "--json"]);
    assert_eq!(
        stage(&st, "canary")["decision"],
        Value::Null,
        "nothing decided"
    );
    let no_reason = cli.cmd(&["deploy", "go", &id, "--override-no-go"]);
    assert_eq!(
        no_reason.status.code(),
        Some(64),
        "a wrong command line: --reason is required"
    );
    let blank = cli.cmd(&["deploy", "go", &id, "--override-no-go", "--reason", "  "]);
    assert!(String::from_utf8_lossy(&blank.stderr).contains("needs a written reason"));
    let (st, code) = at(
        &cli,
        T0,
        &[
            "deploy",
            "go",
            &id,
            "--override-no-go",
            "--reason",
            "the smoke test checks a file we dropped",
            "--json",
        ],
    );
    assert_eq!((st["state"].as_str(), code), (Some("finished"), 0), "{st}");
    let canary = stage(&st, "canary");
    assert_eq!(
        (
            canary["decision"].as_str(),
            canary["override_reason"].as_str(),
            canary["decided_by"].as_str()
        ),
        (
            Some("go"),
            Some("the smoke test checks a file we dropped"),
            Some("user")
        )
    );
    let rows = audit_rows(&cli);
    assert!(
        rows.iter().any(|r| r.1 == "gate-go-override"
            && r.4
                .contains("reason: the smoke test checks a file we dropped")
            && r.4.contains("no-go said: NO-GO pd-01: smoke test")),
        "{rows:?}"
    );
    let (rb, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(rb["state"], "rolled-back", "{rb}");
}

#[test]
fn scope_list_and_exit_codes() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    let out = cli.cmd(&[
        "deploy",
        "plan",
        "--name",
        "x",
        "--scope",
        "nosuch",
        "--package",
        "pd-hello",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "patchdesk: no group or host named \"nosuch\": `patchdesk host list` shows the hosts and their groups"
    );
    // A single host is a scope too.
    let (p, code) = deploy_plan(
        &cli,
        T0,
        &["--name", "one", "--scope", "pd-01", "--package", "pd-hello"],
    );
    assert_eq!(code, 0, "{p}");
    assert_eq!(p["stages"][0]["hosts"], serde_json::json!(["pd-01"]));
    // A guard blocks: exit 4, as documented.
    let (p, code) = deploy_plan(
        &cli,
        T0,
        &[
            "--name",
            "all",
            "--scope",
            "office",
            "--package",
            "pd-hello",
            "--waves",
            "100",
        ],
    );
    assert_eq!(code, 4, "{p}");
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    assert!(
        readme.contains("| 4 | a deployment plan blocked by a guard"),
        "README documents exit code 4"
    );
    let list = cli.json(&["deploy", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "one");
    assert_eq!(list[0]["state"], "planned");
    let text = cli.ok(&["deploy", "list"]);
    assert!(
        text.contains("one") && text.contains("pd-01") && text.contains("planned"),
        "{text}"
    );
    // The scan is stale for pd-01 (upgraded behind PatchDesk's back): apt has nothing to do
    // there any more, so the plan leaves it out and says why.
    fleet.exec(
        "pd-01",
        &["apt-get", "install", "-y", "-qq", "pd-hello=1.1-1"],
    );
    let (p, code) = deploy_plan(
        &cli,
        T0,
        &[
            "--name",
            "stale",
            "--scope",
            "canary",
            "--package",
            "pd-hello",
            "--waves",
            "100",
        ],
    );
    fleet.exec(
        "pd-01",
        &[
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--allow-downgrades",
            "pd-hello=1.0-1",
        ],
    );
    assert_eq!(code, 0, "{p}");
    assert_eq!(p["stages"][0]["hosts"], serde_json::json!(["pd-02"]), "{p}");
    assert!(
        p["warnings"].to_string().contains(
            "left out, nothing to change there any more (the last scan is stale: rescan): pd-01"
        ),
        "{p}"
    );
    let missing = cli.cmd(&["deploy", "status", "99"]);
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "patchdesk: no deployment 99: `patchdesk deploy list` shows them"
    );
}
