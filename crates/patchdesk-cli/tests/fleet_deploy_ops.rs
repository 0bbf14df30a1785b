//! The operational side of deployments on the real fleet with real apt: a busy dpkg lock waited
//! for visibly (and given up on with a clear error), a pin rollback (apt-mark hold + apt
//! preferences) performed by policy on a no-go and lifted again, and maintenance windows that
//! keep a stage from changing hosts until they open.

mod common;

use common::{
    at, deploy_plan, hold_dpkg_lock, installed, scanned_cli, spawn_cli, stage, Cli, Fleet,
};
use serde_json::Value;
use std::time::{Duration, Instant};

const T0: &str = "2026-11-24T12:00:00Z";

fn host<'a>(st: &'a Value, stage_name: &str, name: &str) -> &'a Value {
    stage(st, stage_name)["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {stage_name}: {st}"))
}

fn plan_canary(cli: &Cli, pkg: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "deploy",
        "plan",
        "--name",
        pkg,
        "--scope",
        "canary",
        "--package",
        pkg,
        "--soak-hours",
        "0",
        "--json",
    ];
    args.extend_from_slice(extra);
    let (plan, code) = at(cli, T0, &args);
    assert_eq!(code, 0, "{plan}");
    plan["deployment_id"].as_i64().unwrap().to_string()
}

#[test]
fn a_busy_dpkg_lock_is_waited_for_visibly_then_given_up_with_a_clear_error() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);

    // 1. The lock is held longer than the configured wait: the host fails, nothing changed.
    cli.ok(&["settings", "--dpkg-lock-wait", "2"]);
    let id = plan_canary(&cli, "pd-hello", &[]);
    let mut holder = hold_dpkg_lock(&fleet, "pd-01", 12);
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    let v01 = installed(&fleet, "pd-01", "pd-hello");
    let v02 = installed(&fleet, "pd-02", "pd-hello");
    let _ = holder.wait();
    let (_, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    let h01 = host(&st, "canary", "pd-01");
    assert_eq!(h01["state"], "failed", "{st}");
    let err = h01["error"].as_str().unwrap();
    assert!(
        err.contains("the dpkg lock stayed busy") && err.contains("held by process"),
        "{err}"
    );
    assert_eq!(v01, "1.0-1", "nothing was changed on the locked host");
    assert_eq!(v02, "1.1-1", "the other canary host went on");
    assert!(
        stage(&st, "canary")["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["verdict"] == "no-go"
                && r["host"] == "pd-01"
                && r["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("the dpkg lock stayed busy")),
        "{st}"
    );

    // 2. The lock is freed while PatchDesk waits: the status says so, then the apply happens once.
    cli.ok(&["settings", "--dpkg-lock-wait", "120"]);
    let id = plan_canary(&cli, "pd-hello", &[]);
    let mut holder = hold_dpkg_lock(&fleet, "pd-01", 8);
    let start = spawn_cli(&cli, T0, &["deploy", "start", &id, "--json"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = None;
    while Instant::now() < deadline {
        let (st, _) = at(&cli, T0, &["deploy", "status", &id, "--json"]);
        let h = host(&st, "canary", "pd-01");
        if let Some(note) = h["note"].as_str() {
            assert_eq!(h["state"], "applying");
            seen = Some(note.to_string());
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = start.wait_with_output().unwrap();
    let _ = holder.wait();
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    let v01 = installed(&fleet, "pd-01", "pd-hello");
    let applies: i64 = rusqlite::Connection::open(&cli.db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE host = 'pd-01' AND action = 'apply' AND phase = 'after' AND exit_status = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let (_, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    let seen = seen.expect("the status showed pd-01 waiting for the dpkg lock");
    assert!(
        seen.starts_with("waiting for the dpkg lock (held by process"),
        "{seen}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pd-01: waiting for the dpkg lock"),
        "the progress says so too"
    );
    assert_eq!(host(&st, "canary", "pd-01")["state"], "applied", "{st}");
    assert_eq!(
        host(&st, "canary", "pd-01")["note"],
        Value::Null,
        "the note is cleared"
    );
    assert_eq!(v01, "1.1-1");
    assert_eq!(applies, 1, "applied exactly once after the lock was freed");
    assert_eq!(
        installed(&fleet, "pd-01", "pd-hello"),
        "1.0-1",
        "cleaned up"
    );
}

/// A stage's hosts are applied at once (#16): pd-01 (first by name) is held up by a real busy
/// dpkg lock while pd-02 applies, and the rollback runs on both at once too. Proved by the audit
/// log's order (its ids are the order of the writes), not by wall time: pd-01 met the lock
/// before pd-02's apply ended, and pd-02's apply ended before pd-01's successful attempt began;
/// each host keeps its before/after pairs.
#[test]
fn a_stage_applies_its_hosts_in_parallel_and_a_locked_host_holds_no_other() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    cli.ok(&["settings", "--dpkg-lock-wait", "120"]);
    let id = plan_canary(&cli, "pd-hello", &[]);
    let mut holder = hold_dpkg_lock(&fleet, "pd-01", 10);
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    let _ = holder.wait();
    let v = (
        installed(&fleet, "pd-01", "pd-hello"),
        installed(&fleet, "pd-02", "pd-hello"),
    );
    let (back, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    let after_rollback = (
        installed(&fleet, "pd-01", "pd-hello"),
        installed(&fleet, "pd-02", "pd-hello"),
    );
    let db = rusqlite::Connection::open(&cli.db).unwrap();
    // (id, host, action, phase, exit status) of this deployment's changes, in write order.
    let log: Vec<(i64, String, String, String, Option<i64>)> = db
        .prepare(
            "SELECT id, host, action, phase, exit_status FROM audit_log
             WHERE action IN ('apply', 'rollback') AND host IN ('pd-01', 'pd-02') ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ids = |host: &str, action: &str, phase: &str, ok: Option<bool>| -> Vec<i64> {
        log.iter()
            .filter(|(_, h, a, p, s)| {
                h == host && a == action && p == phase && ok.is_none_or(|ok| (*s == Some(0)) == ok)
            })
            .map(|e| e.0)
            .collect()
    };
    assert_eq!(host(&st, "canary", "pd-01")["state"], "applied", "{st}");
    assert_eq!(host(&st, "canary", "pd-02")["state"], "applied", "{st}");
    assert_eq!(v, ("1.1-1".to_string(), "1.1-1".to_string()));
    let refused = ids("pd-01", "apply", "after", Some(false));
    assert!(!refused.is_empty(), "pd-01 met the busy lock: {log:?}");
    let (b01, a01) = (
        *ids("pd-01", "apply", "before", None).last().unwrap(),
        ids("pd-01", "apply", "after", Some(true)),
    );
    let (b02, a02) = (
        ids("pd-02", "apply", "before", None),
        ids("pd-02", "apply", "after", Some(true)),
    );
    assert_eq!((a01.len(), b02.len(), a02.len()), (1, 1, 1), "{log:?}");
    assert!(
        refused[0] < a02[0] && a02[0] < b01 && b01 < a01[0],
        "pd-02 applied while pd-01 waited for the dpkg lock, not after it: {log:?}"
    );
    // Every before has its after, per host and action.
    for h in ["pd-01", "pd-02"] {
        for a in ["apply", "rollback"] {
            assert_eq!(
                ids(h, a, "before", None).len(),
                ids(h, a, "after", None).len(),
                "{h} {a}: {log:?}"
            );
        }
    }
    // The rollback of both: each host's before precedes the other's after (they overlap).
    let (rb1, ra1) = (
        ids("pd-01", "rollback", "before", None),
        ids("pd-01", "rollback", "after", Some(true)),
    );
    let (rb2, ra2) = (
        ids("pd-02", "rollback", "before", None),
        ids("pd-02", "rollback", "after", Some(true)),
    );
    assert_eq!(
        (rb1.len(), ra1.len(), rb2.len(), ra2.len()),
        (1, 1, 1, 1),
        "{log:?}"
    );
    assert!(
        rb1[0].max(rb2[0]) < ra1[0].min(ra2[0]),
        "both rollbacks ran at once: {log:?}"
    );
    assert_eq!(back["state"], "rolled-back", "{back}");
    assert_eq!(after_rollback, ("1.0-1".to_string(), "1.0-1".to_string()));
}

#[test]
fn a_no_go_rolls_back_and_pins_by_policy_and_unpin_lifts_the_pin() {
    let _g = common::serial();
    let fleet = Fleet::get();
    fleet.run(&["publish", "pd-tools", "2.2-1", "--smoke-fail"]);
    let update = || {
        for h in ["pd-01", "pd-02"] {
            fleet.exec(h, &["apt-get", "update", "-qq"]);
        }
    };
    update();
    let cli = scanned_cli(&fleet, T0);
    // The group's own smoke test is used: the plan names none.
    cli.ok(&[
        "deploy",
        "smoke",
        "--group",
        "canary",
        "--set",
        "pd-tools-smoke",
    ]);
    let (plan, code) = deploy_plan(
        &cli,
        T0,
        &[
            "--name",
            "tools",
            "--scope",
            "canary",
            "--package",
            "pd-tools",
            "--soak-hours",
            "0",
            "--pin",
            "--rollback-on-no-go",
        ],
    );
    let run = || -> (Value, Value, [String; 6]) {
        assert_eq!(code, 0, "{plan}");
        let id = plan["deployment_id"].as_i64().unwrap().to_string();
        let (gate, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
        // Manual mode: the unhealthy canary waits at its gate; the user says no-go.
        let (st, _) = at(
            &cli,
            T0,
            &[
                "deploy",
                "no-go",
                &id,
                "--reason",
                "canary failed",
                "--json",
            ],
        );
        let status = fleet.exec("pd-01", &["dpkg-query", "-W", "-f=${Status}", "pd-tools"]);
        let prefs = fleet.exec(
            "pd-01",
            &[
                "cat",
                &format!("/etc/apt/preferences.d/patchdesk-deployment-{id}"),
            ],
        );
        let policy = fleet.exec("pd-02", &["apt-cache", "policy", "pd-tools"]);
        let (un, _) = at(&cli, T0, &["deploy", "unpin", &id, "--json"]);
        let after = fleet.exec("pd-01", &["dpkg-query", "-W", "-f=${Status}", "pd-tools"]);
        let gone = fleet.exec(
            "pd-01",
            &[
                "sh",
                "-c",
                "ls /etc/apt/preferences.d/ | grep -c patchdesk || true",
            ],
        );
        let _ = gate;
        (
            st,
            un,
            [
                status,
                prefs,
                policy,
                after,
                gone,
                installed(&fleet, "pd-02", "pd-tools"),
            ],
        )
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    fleet.run(&["unpublish", "pd-tools", "2.2-1"]);
    update();
    let (st, un, [status, prefs, policy, after, gone, v02]) = result.unwrap();

    assert_eq!(plan["smoke"][0], "pd-tools-smoke", "the group's smoke test");
    assert_eq!(
        plan["rollback"][0]["kind"], "pin",
        "the pin path was checked at plan time: {plan}"
    );
    assert_eq!(st["state"], "rolled-back", "rolled back by policy: {st}");
    assert_eq!(stage(&st, "canary")["decision"], "no-go");
    for h in ["pd-01", "pd-02"] {
        assert_eq!(host(&st, "canary", h)["state"], "rolled-back");
        assert_eq!(host(&st, "canary", h)["pinned"], true, "{st}");
    }
    assert_eq!(v02, "2.0-1", "back on the exact previous version");
    assert_eq!(status.trim(), "hold ok installed", "apt-mark hold");
    assert!(
        prefs.contains("Package: pd-tools\nPin: version 2.0-1\nPin-Priority: 1001"),
        "{prefs}"
    );
    assert!(
        policy.contains("Candidate: 2.0-1"),
        "apt will not move it while pinned: {policy}"
    );
    assert_eq!(host(&un, "canary", "pd-01")["pinned"], false, "{un}");
    assert_eq!(after.trim(), "install ok installed", "unhold");
    assert_eq!(gone.trim(), "0", "the preferences file is removed");
    // The audit log, as the user reads it.
    let log = cli.json(&["audit", "--limit", "1000", "--json"]);
    let pins: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| (a["action"] == "pin" || a["action"] == "unpin") && a["phase"] == "after")
        .collect();
    assert_eq!(
        pins.len(),
        6,
        "2 hosts × (hold, preferences, unpin): {pins:?}"
    );
    assert!(pins
        .iter()
        .all(|a| a["exit_status"] == 0 && a["output_digest"].is_string()));
    assert!(
        pins.iter().any(|a| a["host"] == "pd-02"
            && a["command"]
                .as_str()
                .unwrap()
                .starts_with("apt-mark hold pd-tools")),
        "{pins:?}"
    );
    let before = cli.json(&["audit", "--host", "pd-01", "--limit", "1000", "--json"]);
    assert!(before
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["host"] == "pd-01"));
    assert!(
        before
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "rollback" && a["phase"] == "before"),
        "written before it ran, too"
    );
}

#[test]
fn a_closed_maintenance_window_holds_the_stage_until_it_opens() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let mut cli = scanned_cli(&fleet, T0);
    cli.envs.push(("TZ".into(), "UTC".into()));

    let bad = cli.cmd(&[
        "deploy",
        "window",
        "--group",
        "canary",
        "--set",
        "someday 25:00",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.contains("maintenance window") && msg.lines().count() == 1,
        "{msg}"
    );
    cli.ok(&[
        "deploy",
        "window",
        "--group",
        "canary",
        "--set",
        "sat 22:00-06:00",
    ]);
    let list = cli.ok(&["deploy", "window"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("canary ") && l.ends_with(" sat 22:00-06:00")),
        "{list}"
    );

    let id = plan_canary(&cli, "pd-hello", &[]);
    // Tuesday noon: the window opens Saturday 22:00, in 4 days 10 hours.
    let (st, code) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    let before = installed(&fleet, "pd-01", "pd-hello");
    // Saturday 22:30: inside the window, the canary is applied.
    let (inside, _) = at(
        &cli,
        "2026-11-28T22:30:00Z",
        &["deploy", "start", &id, "--json"],
    );
    let after = installed(&fleet, "pd-01", "pd-hello");
    let _ = at(
        &cli,
        "2026-11-28T22:40:00Z",
        &["deploy", "rollback", &id, "--json"],
    );
    cli.ok(&["deploy", "window", "--group", "canary", "--clear"]);

    assert_eq!(code, 0);
    assert_eq!(stage(&st, "canary")["state"], "pending", "{st}");
    assert_eq!(
        st["waiting_for"],
        "the maintenance window of canary (sat 22:00-06:00), opens in 4d 10h 0m"
    );
    assert_eq!(
        stage(&st, "canary")["window_opens_at"],
        "2026-11-28T22:00:00Z"
    );
    assert_eq!(before, "1.0-1", "nothing changed outside the window");
    assert_ne!(stage(&inside, "canary")["state"], "pending", "{inside}");
    assert_eq!(after, "1.1-1");
    assert_eq!(
        installed(&fleet, "pd-01", "pd-hello"),
        "1.0-1",
        "cleaned up"
    );
}

#[test]
fn what_to_deploy_can_be_chosen_by_cve_or_by_a_saved_selection() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    let feed = common::repo_root().join("tests/fixtures/advisories/osv-debian.json");
    let (_, code) = at(
        &cli,
        T0,
        &[
            "advisories",
            "sync",
            "--from",
            feed.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0);
    let packages = |plan: &Value| -> Vec<String> {
        let mut v: Vec<String> = plan["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["package"].as_str().unwrap().to_string())
            .collect();
        v.dedup();
        v
    };
    // By CVE: CVE-2026-1001 is fixed by pd-hello 1.1-1 (and nothing else pending on the canary).
    let (by_cve, code) = deploy_plan(
        &cli,
        T0,
        &["--name", "c", "--scope", "canary", "--cve", "cve-2026-1001"],
    );
    assert_eq!(code, 0, "{by_cve}");
    assert_eq!(packages(&by_cve), ["pd-hello"], "{by_cve}");

    // Saved: the same selection by name, every cycle.
    cli.ok(&[
        "deploy",
        "selection",
        "save",
        "hello-fix",
        "--cve",
        "CVE-2026-1001",
    ]);
    assert!(cli
        .ok(&["deploy", "selection", "list"])
        .contains("hello-fix"));
    let (saved, code) = deploy_plan(
        &cli,
        T0,
        &[
            "--name",
            "s",
            "--scope",
            "canary",
            "--selection",
            "hello-fix",
        ],
    );
    assert_eq!(code, 0, "{saved}");
    assert_eq!(packages(&saved), ["pd-hello"]);

    // Bad input: a clear sentence, nothing stored.
    for (args, says) in [
        (vec!["--cve", "CVE-2026-1;reboot"], "is not a CVE id"),
        (vec!["--cve", "CVE-2026-9999"], "nothing to deploy"),
        (vec!["--selection", "nope"], "no saved selection \"nope\""),
    ] {
        let mut a = vec!["deploy", "plan", "--name", "x", "--scope", "canary"];
        a.extend(args);
        let out = cli.cmd(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(says) && err.lines().count() == 1, "{err}");
    }
    let bad = cli.cmd(&["deploy", "selection", "save", "x", "--package", "a b"]);
    assert_eq!(bad.status.code(), Some(1));
    let list: Value = cli.json(&["deploy", "status", "--json"]);
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "only the two good plans were stored"
    );
}

/// Where: a selection of hosts (Hosts' "Deploy to selection…", Patches' "Deploy to N hosts…"),
/// with no group holding them, is staged on exactly those hosts and recorded as its scope; a
/// host outside a given scope is refused by name and nothing is stored.
#[test]
fn where_to_deploy_can_be_a_selection_of_hosts() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    let (plan, id) = common::planned(
        &cli,
        T0,
        &[
            "--name",
            "sel",
            "--host",
            "pd-03,pd-01",
            "--package",
            "pd-hello",
        ],
    );
    let mut staged: Vec<String> = common::plan_stages(&plan)
        .into_iter()
        .flat_map(|(_, h)| h)
        .collect();
    staged.sort();
    assert_eq!(staged, ["pd-01", "pd-03"], "{plan}");
    let st: Value = cli.json(&["deploy", "status", &id, "--json"]);
    assert_eq!(st["scope"], "2 hosts: pd-01, pd-03", "{st}");

    let out = cli.cmd(&[
        "deploy",
        "plan",
        "--name",
        "x",
        "--scope",
        "canary",
        "--host",
        "pd-03",
        "--package",
        "pd-hello",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("\"pd-03\" is not in group \"canary\""),
        "{err}"
    );
    let list: Value = cli.json(&["deploy", "status", "--json"]);
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only the good plan was stored"
    );
}

/// SSH connections each host's sshd accepted so far (its log, `Accepted publickey` lines).
fn accepted(fleet: &Fleet, hosts: &[&str]) -> Vec<usize> {
    hosts
        .iter()
        .map(|h| {
            let log = fleet.host(h).root.parent().unwrap().join("sshd.log");
            std::fs::read_to_string(&log)
                .unwrap_or_else(|e| panic!("{}: {e}", log.display()))
                .matches("Accepted publickey for ")
                .count()
        })
        .collect()
}

/// A stage step opens one SSH connection per host, counted by the hosts' own sshd: the apply
/// step (the apt simulation, the baseline health with two smoke tests, the audited apply) and
/// the verification right after it (the rescan, the health, the smoke tests) share one; the
/// rollback (the simulation, the audited downgrade, the audited hold and apt preferences, the
/// verifying rescan) one more. The deployment still applies, verifies, rolls back and pins.
#[test]
fn a_stage_step_uses_one_ssh_connection_per_host() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let hosts = ["pd-01", "pd-02"];
    let cli = scanned_cli(&fleet, T0);
    let id = plan_canary(
        &cli,
        "pd-hello",
        &["--smoke", "true", "--smoke", "test -d /etc", "--pin"],
    );
    let before = accepted(&fleet, &hosts);
    let t = Instant::now();
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    let apply_secs = t.elapsed().as_secs_f64();
    let after_apply = accepted(&fleet, &hosts);
    let applied = hosts.map(|h| installed(&fleet, h, "pd-hello"));
    let t = Instant::now();
    let (back, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    let rollback_secs = t.elapsed().as_secs_f64();
    let after_rollback = accepted(&fleet, &hosts);
    let restored = hosts.map(|h| installed(&fleet, h, "pd-hello"));
    let held = hosts.map(|h| fleet.exec(h, &["apt-mark", "showhold"]));
    cli.ok(&["deploy", "unpin", &id]);
    let conns =
        |a: &[usize], b: &[usize]| -> Vec<usize> { a.iter().zip(b).map(|(x, y)| y - x).collect() };
    eprintln!(
        "stage apply+verify of 2 hosts: {apply_secs:.2} s, connections per host {:?}; rollback: {rollback_secs:.2} s, connections per host {:?}",
        conns(&before, &after_apply),
        conns(&after_apply, &after_rollback)
    );
    for h in hosts {
        assert_eq!(host(&st, "canary", h)["state"], "applied", "{st}");
    }
    assert_eq!(stage(&st, "canary")["state"], "gate", "verified: {st}");
    assert_eq!(applied, ["1.1-1", "1.1-1"].map(String::from));
    assert_eq!(back["state"], "rolled-back", "{back}");
    assert_eq!(restored, ["1.0-1", "1.0-1"].map(String::from));
    for h in &held {
        assert!(h.contains("pd-hello"), "held by the pin rollback: {h}");
    }
    assert_eq!(
        conns(&before, &after_apply),
        vec![1, 1],
        "apply + verify + health: one connection per host"
    );
    assert_eq!(
        conns(&after_apply, &after_rollback),
        vec![1, 1],
        "rollback + pin + rescan: one connection per host"
    );
}
