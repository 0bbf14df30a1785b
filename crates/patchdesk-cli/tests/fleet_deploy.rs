//! Deployments on the real fleet with real apt: canary → waves through go/no-go gates with the
//! clock moved across the soak, a failing smoke test → no-go → rollback verified on the hosts,
//! refused rollback paths, guards, and resuming after an interrupted apply.

mod common;

use common::{at, deploy_plan, installed, plan_stages, planned, scanned_cli, stage, Fleet};
use serde_json::Value;

#[test]
fn rollout_through_canary_and_waves_then_rollback() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let (plan, id) = planned(
        &cli,
        t0,
        &[
            "--name",
            "hello",
            "--scope",
            "office",
            "--package",
            "pd-hello",
            "--smoke",
            "pd-hello-smoke",
        ],
    );
    let stages = plan_stages(&plan);
    assert_eq!(
        stages,
        [
            (
                "canary".to_string(),
                vec!["pd-01".to_string(), "pd-02".to_string()]
            ),
            ("5%".to_string(), vec!["pd-03".to_string()]),
            ("100%".to_string(), vec!["pd-05".to_string()])
        ],
        "canary = non-prod; prod waves cumulative, at least one host each; pd-04 already patched"
    );
    // The rollback path of every host was recorded before anything ran: the exact versions.
    let rb: Vec<String> = plan["rollback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["host"].as_str().unwrap(),
                r["detail"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        rb.contains(&"pd-03:downgrade to pd-hello=1.0-2".to_string()),
        "{rb:?}"
    );

    // Canary applied, verified, soaking: nothing else moves before the soak ends.
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    assert_eq!(stage(&st, "canary")["state"], "soaking", "{st}");
    assert_eq!(installed(&fleet, "pd-01", "pd-hello"), "1.1-1");
    assert_eq!(
        installed(&fleet, "pd-03", "pd-hello"),
        "1.0-2",
        "production untouched during the canary"
    );
    assert!(st["waiting_for"].as_str().unwrap().contains("soak"));
    let (st, _) = at(
        &cli,
        "2026-11-25T11:00:00Z",
        &["deploy", "start", &id, "--json"],
    );
    assert_eq!(
        stage(&st, "canary")["state"],
        "soaking",
        "23 h later: still soaking"
    );
    assert_eq!(stage(&st, "canary")["soak_seconds_left"], 3600);
    // Go / no-go only at a gate.
    let refused = cli.cmd_with(
        &["deploy", "go", &id],
        &[("PATCHDESK_NOW", "2026-11-25T11:00:00Z")],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not at a gate"));

    let t1 = "2026-11-25T12:30:00Z";
    let (st, _) = at(&cli, t1, &["deploy", "start", &id, "--json"]);
    let canary = stage(&st, "canary");
    assert_eq!(canary["state"], "gate");
    assert_eq!(canary["verdict"], "go", "{canary}");
    // No systemd in the fleet: the gate's checklist says so, never a fake pass.
    let checks = canary["hosts"].to_string();
    assert!(
        checks.contains("not available on this host (no systemd)"),
        "no systemd in the fleet: said, never a fake pass: {checks}"
    );
    assert!(st["waiting_for"].as_str().unwrap().contains("go / no-go"));
    let (st, _) = at(&cli, t1, &["deploy", "go", &id, "--json"]);
    assert_eq!(stage(&st, "5%")["state"], "gate");
    assert_eq!(
        installed(&fleet, "pd-03", "pd-hello"),
        "1.1-1",
        "applied through sudo -n as ops"
    );
    assert_eq!(
        installed(&fleet, "pd-05", "pd-hello"),
        "1.0-1",
        "the next wave waits for the gate"
    );
    let (st, _) = at(&cli, t1, &["deploy", "go", &id, "--json"]);
    assert_eq!(stage(&st, "100%")["state"], "gate");
    let (st, code) = at(&cli, t1, &["deploy", "go", &id, "--json"]);
    assert_eq!((st["state"].as_str(), code), (Some("finished"), 0));
    for h in ["pd-01", "pd-02", "pd-03", "pd-05"] {
        assert_eq!(installed(&fleet, h, "pd-hello"), "1.1-1", "{h}");
    }
    // The inventory saw it too (verification rescans).
    let hits = cli.json(&["query", "package", "pd-hello", "--below", "1.1-1", "--json"]);
    assert!(
        hits.as_array()
            .unwrap()
            .iter()
            .all(|h| h["host"] == "pd-06"),
        "{hits}"
    );

    // Roll the whole deployment back: the exact previous versions, verified by a rescan.
    let (st, _) = at(
        &cli,
        "2026-11-25T13:00:00Z",
        &["deploy", "rollback", &id, "--json"],
    );
    assert_eq!(st["state"], "rolled-back", "{st}");
    assert_eq!(installed(&fleet, "pd-01", "pd-hello"), "1.0-1");
    assert_eq!(installed(&fleet, "pd-03", "pd-hello"), "1.0-2");
    assert_eq!(installed(&fleet, "pd-05", "pd-hello"), "1.0-1");
    // Every change was audited before and after.
    let db = rusqlite::Connection::open(&cli.db).unwrap();
    let (before, after): (i64, i64) = db
        .query_row(
            "SELECT sum(phase = 'before'), sum(phase = 'after' AND exit_status = 0) FROM audit_log WHERE action IN ('apply', 'rollback')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (before, after),
        (8, 8),
        "4 hosts x (apply + rollback), each before and after"
    );
}

#[test]
fn failing_smoke_test_is_a_no_go_and_rollback_restores_the_canary() {
    let _g = common::serial();
    let fleet = Fleet::get();
    fleet.run(&["publish", "pd-tools", "2.2-1", "--smoke-fail"]);
    let cleanup = || {
        fleet.run(&["unpublish", "pd-tools", "2.2-1"]);
        for h in ["pd-01", "pd-02", "pd-03"] {
            fleet.exec(h, &["apt-get", "update", "-qq"]);
        }
    };
    for h in ["pd-01", "pd-02", "pd-03"] {
        fleet.exec(h, &["apt-get", "update", "-qq"]);
    }
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let (plan, code) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "tools",
            "--scope",
            "office",
            "--package",
            "pd-tools",
            "--smoke",
            "pd-tools-smoke",
            "--auto",
        ],
    );
    if code != 0 {
        cleanup();
        panic!("{plan}");
    }
    let id = plan["deployment_id"].as_i64().unwrap().to_string();
    let (st, code) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    let v01 = installed(&fleet, "pd-01", "pd-tools");
    let v03 = installed(&fleet, "pd-03", "pd-tools");
    let (rb, _) = at(
        &cli,
        "2026-11-24T12:10:00Z",
        &["deploy", "rollback", &id, "--json"],
    );
    let after01 = installed(&fleet, "pd-01", "pd-tools");
    let after02 = installed(&fleet, "pd-02", "pd-tools");
    cleanup();
    // Auto mode: the unhealthy canary goes straight to its gate (no soak) and the engine says no-go.
    assert_eq!((st["state"].as_str(), code), (Some("halted"), 3), "{st}");
    let canary = stage(&st, "canary");
    assert_eq!(canary["decision"], "no-go");
    assert!(
        canary["reasons"]
            .to_string()
            .contains("smoke test `pd-tools-smoke` failed (exit 1)"),
        "{canary}"
    );
    assert_eq!(v01, "2.2-1", "the canary did receive the bad version");
    assert_eq!(v03, "2.1-1", "production never did");
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    assert_eq!(
        (after01.as_str(), after02.as_str()),
        ("2.0-1", "2.0-1"),
        "rolled back to the exact previous version"
    );
}

#[test]
fn missing_old_version_refuses_the_rollback_path_and_guards_block() {
    let _g = common::serial();
    let fleet = Fleet::get();
    // pd-05 gets a pd-agent version that no repository offers: it cannot be downgraded to.
    fleet.run(&["local-install", "pd-05", "pd-agent", "1.9-1"]);
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let (plan, code) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "agent",
            "--scope",
            "office",
            "--package",
            "pd-agent",
        ],
    );
    let (plan2, code2) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "agent",
            "--scope",
            "office",
            "--package",
            "pd-agent",
            "--override",
            "rollback:pd-05=restore from the nightly backup",
        ],
    );
    fleet.exec("pd-05", &["dpkg", "--purge", "pd-agent"]);
    assert_eq!(code, 4, "blocked: {plan}");
    assert_eq!(plan["deployment_id"], Value::Null, "nothing stored");
    let bad = plan["rollback"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "pd-05")
        .unwrap();
    assert_eq!(bad["ok"], false);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("no longer offer pd-agent 1.9-1"),
        "{bad}"
    );
    assert!(plan["guards"].to_string().contains("rollback:pd-05"));
    assert_eq!(code2, 0, "{plan2}");
    let id = plan2["deployment_id"].as_i64().unwrap().to_string();
    let st = cli.json(&["deploy", "status", &id, "--json"]);
    assert_eq!(
        st["overrides"]["rollback:pd-05"], "restore from the nightly backup",
        "the override is recorded with its reason"
    );

    // One stage straight to all of production is blocked.
    let (p, code) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "x",
            "--scope",
            "office",
            "--package",
            "pd-hello",
            "--waves",
            "100",
        ],
    );
    assert_eq!(code, 4);
    assert!(p["guards"].to_string().contains("single-stage"), "{p}");
    // A scope without non-prod hosts would skip the canary: blocked.
    let csv = cli.dir.path().join("prodonly.csv");
    let m = &fleet.manifest;
    std::fs::write(
        &csv,
        format!(
            "name,address,user,key,environment,groups\npd-03,{a3},ops,{k},prod,prodonly\npd-05,{a5},root,{k},prod,prodonly\n",
            k = m["key"].as_str().unwrap(),
            a3 = fleet.host("pd-03").address,
            a5 = fleet.host("pd-05").address
        ),
    )
    .unwrap();
    cli.ok(&["host", "import", csv.to_str().unwrap(), "--update"]);
    let (p, code) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "y",
            "--scope",
            "prodonly",
            "--package",
            "pd-hello",
        ],
    );
    assert_eq!(code, 4);
    assert!(p["guards"].to_string().contains("no-canary"), "{p}");
    assert!(p["guards"].to_string().contains("skip the canary"), "{p}");
}

#[test]
fn an_interrupted_apply_is_checked_with_dpkg_audit_on_resume() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let (plan, code) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "resume",
            "--scope",
            "canary",
            "--package",
            "pd-daemon",
            "--soak-hours",
            "0",
        ],
    );
    assert_eq!(code, 0, "{plan}");
    let id = plan["deployment_id"].as_i64().unwrap();
    // As if the process was killed while pd-01 was applying.
    {
        let db = rusqlite::Connection::open(&cli.db).unwrap();
        db.execute(
            "UPDATE deployments SET state = 'running' WHERE id = ?1",
            [id],
        )
        .unwrap();
        db.execute(
            "UPDATE deployment_hosts SET state = 'applying' WHERE deployment_id = ?1 AND host_id = (SELECT id FROM hosts WHERE name = 'pd-01')",
            [id],
        )
        .unwrap();
    }
    let (st, _) = at(&cli, t0, &["deploy", "start", &id.to_string(), "--json"]);
    let v1 = installed(&fleet, "pd-01", "pd-daemon");
    let (_, _) = at(&cli, t0, &["deploy", "rollback", &id.to_string(), "--json"]);
    assert_eq!(
        v1, "1.1-1",
        "after a clean dpkg --audit the apply continued: {st}"
    );
    assert_eq!(stage(&st, "canary")["state"], "gate");
    assert_eq!(installed(&fleet, "pd-01", "pd-daemon"), "1.0-1");
    let db = rusqlite::Connection::open(&cli.db).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM audit_log WHERE host = 'pd-01' AND action = 'apply' AND phase = 'before'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "applied exactly once");
}

#[test]
fn a_changed_host_key_or_a_stopped_host_mid_deployment_halts_it_at_the_gate() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let (_, id) = planned(
        &cli,
        t0,
        &[
            "--name",
            "keys",
            "--scope",
            "office",
            "--package",
            "pd-hello",
            "--soak-hours",
            "0",
        ],
    );
    let (st, _) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    assert_eq!(stage(&st, "canary")["state"], "gate");
    // Between the canary and the first wave, pd-03 is re-keyed and pd-05 goes down.
    fleet.run(&["rekey", "pd-03"]);
    fleet.run(&["stop-host", "pd-05"]);
    let (st, _) = at(&cli, t0, &["deploy", "go", &id, "--json"]);
    fleet.run(&["rekey", "pd-03", "--restore"]);
    let wave = stage(&st, "5%").clone();
    let pd03 = installed(&fleet, "pd-03", "pd-hello");
    // The 100% wave (pd-05, stopped) is never reached: the 5% gate says no-go first.
    let (halted, code) = at(
        &cli,
        t0,
        &[
            "deploy",
            "no-go",
            &id,
            "--reason",
            "wave looks wrong",
            "--json",
        ],
    );
    fleet.run(&["start-host", "pd-05"]);
    let (rb, _) = at(&cli, t0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(wave["state"], "gate", "{wave}");
    assert_eq!(wave["verdict"], "no-go");
    let reasons = wave["reasons"].to_string();
    assert!(
        reasons.contains("HOST KEY HAS CHANGED") && reasons.contains("Nothing was run"),
        "{reasons}"
    );
    assert_eq!(pd03, "1.0-2", "nothing ran on the re-keyed host");
    assert_eq!(wave["hosts"][0]["state"], "failed");
    assert_eq!((halted["state"].as_str(), code), (Some("halted"), 3));
    assert_eq!(
        stage(&halted, "100%")["state"],
        "pending",
        "the stopped host's wave never started"
    );
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    assert_eq!(installed(&fleet, "pd-01", "pd-hello"), "1.0-1");
    assert_eq!(installed(&fleet, "pd-05", "pd-hello"), "1.0-1");
}

#[test]
fn a_host_that_drops_during_its_wave_is_a_no_go_with_the_reason() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let (_, id) = planned(
        &cli,
        t0,
        &[
            "--name",
            "drop",
            "--scope",
            "web",
            "--package",
            "pd-hello",
            "--soak-hours",
            "0",
            "--auto",
        ],
    );
    fleet.run(&["stop-host", "pd-03"]);
    let (st, code) = at(&cli, t0, &["deploy", "start", &id, "--json"]);
    fleet.run(&["start-host", "pd-03"]);
    let (rb, _) = at(&cli, t0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(
        stage(&st, "canary")["decision"],
        "go",
        "auto mode went through the healthy canary gate"
    );
    let wave = stage(&st, "5%");
    assert_eq!(wave["decision"], "no-go", "{wave}");
    assert!(
        wave["reasons"].to_string().contains(&format!(
            "cannot connect to {}:22",
            fleet.host("pd-03").address
        )),
        "{wave}"
    );
    assert_eq!((st["state"].as_str(), code), (Some("halted"), 3));
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    assert_eq!(installed(&fleet, "pd-01", "pd-hello"), "1.0-1");
}

#[test]
fn a_rollback_drill_runs_on_non_prod_only_and_is_dated_per_group() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let (before, _) = at(&cli, t0, &["deploy", "drills", "--json"]);
    let web = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|d| d["group"] == "web")
            .unwrap()
            .clone()
    };
    assert_eq!(web(&before)["overdue"], true, "never drilled");
    let (d, code) = at(
        &cli,
        t0,
        &[
            "deploy",
            "drill",
            "--scope",
            "web",
            "--package",
            "pd-hello",
            "--smoke",
            "pd-hello-smoke",
            "--json",
        ],
    );
    assert_eq!((code, d["ok"].as_bool()), (0, Some(true)), "{d}");
    // Production never moved, the canary is back where it was.
    assert_eq!(installed(&fleet, "pd-03", "pd-hello"), "1.0-2");
    assert_eq!(installed(&fleet, "pd-01", "pd-hello"), "1.0-1");
    let db = rusqlite::Connection::open(&cli.db).unwrap();
    let hosts: Vec<String> = db
        .prepare("SELECT DISTINCT host FROM audit_log WHERE action IN ('apply', 'rollback') ORDER BY host")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        hosts,
        ["pd-01", "pd-02"],
        "only non-prod hosts were touched"
    );
    let (after, _) = at(
        &cli,
        "2026-12-24T12:00:00Z",
        &["deploy", "drills", "--json"],
    );
    assert_eq!(
        (
            web(&after)["age_days"].as_i64(),
            web(&after)["overdue"].as_bool()
        ),
        (Some(30), Some(false))
    );
    let (late, _) = at(
        &cli,
        "2027-03-01T12:00:00Z",
        &["deploy", "drills", "--json"],
    );
    assert_eq!(
        web(&late)["overdue"],
        true,
        "older than 90 days: {}",
        web(&late)
    );
}

#[test]
fn a_snapshot_hook_is_the_rollback_path_where_no_downgrade_exists() {
    let _g = common::serial();
    let fleet = Fleet::get();
    // pd-05 runs a pd-agent build no repository offers: only a snapshot can bring it back.
    fleet.run(&["local-install", "pd-05", "pd-agent", "1.9-1"]);
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let script = fleet.script.display().to_string();
    cli.ok(&[
        "deploy",
        "hook",
        "--group",
        "office",
        "--on",
        "local",
        "--snapshot",
        &format!("bash {script} snapshot \"$PATCHDESK_HOST\""),
        "--restore",
        &format!("bash {script} restore \"$PATCHDESK_HOST\""),
    ]);
    let (plan, code) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "agent",
            "--scope",
            "office",
            "--package",
            "pd-agent",
            "--soak-hours",
            "0",
        ],
    );
    let run = || -> (Value, String, Value, String, String) {
        let id = plan["deployment_id"].as_i64().unwrap_or(0).to_string();
        let mut st = at(&cli, t0, &["deploy", "start", &id, "--json"]).0;
        for _ in 0..3 {
            if st["state"] == "finished" {
                break;
            }
            st = at(&cli, t0, &["deploy", "go", &id, "--json"]).0;
        }
        let upgraded = installed(&fleet, "pd-05", "pd-agent");
        let rb = at(&cli, t0, &["deploy", "rollback", &id, "--json"]).0;
        (
            st,
            upgraded,
            rb,
            installed(&fleet, "pd-05", "pd-agent"),
            installed(&fleet, "pd-01", "pd-agent"),
        )
    };
    let (st, upgraded, rb, restored05, restored01) = if code == 0 {
        run()
    } else {
        (
            Value::Null,
            String::new(),
            Value::Null,
            String::new(),
            String::new(),
        )
    };
    fleet.exec("pd-05", &["dpkg", "--purge", "pd-agent"]);
    assert_eq!(code, 0, "a snapshot hook makes the plan possible: {plan}");
    let path = plan["rollback"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "pd-05")
        .unwrap();
    assert_eq!(
        (path["kind"].as_str(), path["ok"].as_bool()),
        (Some("snapshot"), Some(true)),
        "{path}"
    );
    assert_eq!(st["state"], "finished", "{st}");
    assert_eq!(upgraded, "2.0-1");
    assert_eq!(rb["state"], "rolled-back", "{rb}");
    assert_eq!(
        restored05, "1.9-1",
        "restored from the snapshot taken before the apply"
    );
    assert_eq!(restored01, "2.0~rc1-1", "the canary was downgraded");
    let db = rusqlite::Connection::open(&cli.db).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM audit_log WHERE host = 'pd-05' AND action IN ('snapshot', 'restore') AND phase = 'after' AND exit_status = 0", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2, "snapshot and restore were audited");
}

#[test]
fn kill_9_during_a_wave_resumes_without_losing_or_repeating() {
    let _g = common::serial();
    let fleet = Fleet::get();
    fleet.run(&["publish", "pd-tools", "2.3-1", "--slow"]);
    let hosts = ["pd-01", "pd-02", "pd-03"];
    for h in hosts {
        fleet.exec(h, &["apt-get", "update", "-qq"]);
    }
    let t0 = "2026-11-24T12:00:00Z";
    let cli = scanned_cli(&fleet, t0);
    let (plan, code) = deploy_plan(
        &cli,
        t0,
        &[
            "--name",
            "kill",
            "--scope",
            "canary",
            "--package",
            "pd-tools",
            "--soak-hours",
            "0",
        ],
    );
    assert_eq!(code, 0, "{plan}");
    let id = plan["deployment_id"].as_i64().unwrap();
    let applies = |host: &str| -> i64 {
        let db = rusqlite::Connection::open(&cli.db).unwrap();
        db.query_row("SELECT count(*) FROM audit_log WHERE host = ?1 AND action = 'apply' AND phase = 'before'", [host], |r| r.get(0)).unwrap_or(0)
    };
    // Start it as a separate process and kill -9 it while pd-01's apply is running.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_patchdesk"))
        .arg("--db")
        .arg(&cli.db)
        .args(["deploy", "start", &id.to_string(), "--json"])
        .env("PATCHDESK_NOW", t0)
        .env("HOME", "/nonexistent-home")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while applies("pd-01") == 0 && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let interrupted_state: String = rusqlite::Connection::open(&cli.db)
        .unwrap()
        .query_row(
            "SELECT d.state FROM deployment_hosts d JOIN hosts h ON h.id = d.host_id WHERE h.name = 'pd-01' AND d.deployment_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(5)); // whatever ran on the host settles
                                                           // Restart: resumes where the database says it stopped.
    let (st, _) = at(&cli, t0, &["deploy", "start", &id.to_string(), "--json"]);
    let v1 = installed(&fleet, "pd-01", "pd-tools");
    let v2 = installed(&fleet, "pd-02", "pd-tools");
    let (n1, n2) = (applies("pd-01"), applies("pd-02"));
    let (rb, _) = at(&cli, t0, &["deploy", "rollback", &id.to_string(), "--json"]);
    fleet.run(&["unpublish", "pd-tools", "2.3-1"]);
    for h in hosts {
        fleet.exec(h, &["apt-get", "update", "-qq"]);
    }
    assert_eq!(
        interrupted_state, "applying",
        "killed in the middle of pd-01's apply"
    );
    assert_eq!(stage(&st, "canary")["state"], "gate", "{st}");
    assert_eq!(
        (v1.as_str(), v2.as_str()),
        ("2.3-1", "2.3-1"),
        "nothing lost"
    );
    assert_eq!(n2, 1, "pd-02 applied exactly once");
    assert_eq!(
        n1, 1,
        "the apply cut off from PatchDesk finished on the host: verified, not repeated, nothing to repair"
    );
    assert_eq!(rb["state"], "rolled-back", "{rb}");
}
