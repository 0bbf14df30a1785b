//! One writer per deployment, with real processes on the real fleet: while one `patchdesk`
//! advances a deployment (held up by a busy dpkg lock on a canary host), a second one is refused
//! with who holds it and until when (exit 5), a third one waits for it with `--wait`, and each
//! host is applied exactly once (the audit log); a holder killed with SIGKILL is taken over.

mod common;

use common::{
    at, audit_rows, hold_dpkg_lock, installed, planned, scanned_cli, spawn_cli, stage, Cli, Fleet,
};
use serde_json::Value;
use std::time::{Duration, Instant};

const T0: &str = "2026-11-24T12:00:00Z";

fn plan_canary(cli: &Cli) -> String {
    planned(
        cli,
        T0,
        &[
            "--name",
            "lease",
            "--scope",
            "canary",
            "--package",
            "pd-hello",
            "--soak-hours",
            "0",
        ],
    )
    .1
}

/// Poll the status until the deployment is held by `pid`; its holder.
fn wait_held_by(cli: &Cli, id: &str, pid: u32) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let (st, _) = at(cli, T0, &["deploy", "status", id, "--json"]);
        if st["held_by"]["pid"].as_u64() == Some(u64::from(pid)) {
            return st["held_by"].clone();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("deployment {id} was never held by pid {pid}");
}

/// Successful applies per host in the audit log.
fn applies(cli: &Cli, host: &str) -> usize {
    audit_rows(cli)
        .iter()
        .filter(|(h, action, phase, status, _)| {
            h == host && action == "apply" && phase == "after" && *status == Some(0)
        })
        .count()
}

#[test]
fn a_second_process_is_refused_or_waits_and_each_host_is_applied_once() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    cli.ok(&["settings", "--dpkg-lock-wait", "120"]);
    let id = plan_canary(&cli);

    // A: advances, held up on pd-01 by a busy dpkg lock for a few seconds.
    let mut lock = hold_dpkg_lock(&fleet, "pd-01", 8);
    let a = spawn_cli(&cli, T0, &["deploy", "start", &id, "--json"]);
    let a_pid = a.id();
    let held = wait_held_by(&cli, &id, a_pid);
    assert_eq!(
        (held["operation"].as_str(), held["who"].as_str()),
        (Some("advance"), Some("user")),
        "{held}"
    );
    assert_eq!(held["process"], "patchdesk", "{held}");

    // B: refused at once, saying who holds it and until when; nothing done.
    let t = Instant::now();
    let b = cli.cmd_with(&["deploy", "go", &id, "--json"], &[("PATCHDESK_NOW", T0)]);
    let b_err = String::from_utf8_lossy(&b.stderr).into_owned();
    assert_eq!(b.status.code(), Some(5), "{b_err}");
    assert!(t.elapsed() < Duration::from_secs(5), "refused at once");
    assert!(
        b_err.starts_with(&format!(
            "patchdesk: deployment {id} is being changed by patchdesk (pid {} on ",
            a_pid
        )) && b_err.contains("), advance for user since 2026-11-24 12:00:00 UTC")
            && b_err.contains("until 2026-11-24 12:01:00 UTC")
            && b_err.contains("--wait"),
        "{b_err}"
    );
    assert!(b.stdout.is_empty(), "no status printed for a refusal");

    // C: waits for A with --wait, then finds the canary at its gate.
    let c = spawn_cli(&cli, T0, &["deploy", "start", &id, "--wait", "--json"]);
    let a_out = a.wait_with_output().unwrap();
    let c_out = c.wait_with_output().unwrap();
    let _ = lock.wait();
    let a_st: Value = serde_json::from_slice(&a_out.stdout)
        .unwrap_or_else(|e| panic!("A: {e}: {}", String::from_utf8_lossy(&a_out.stderr)));
    let c_st: Value = serde_json::from_slice(&c_out.stdout)
        .unwrap_or_else(|e| panic!("C: {e}: {}", String::from_utf8_lossy(&c_out.stderr)));
    let c_err = String::from_utf8_lossy(&c_out.stderr).into_owned();
    let v01 = installed(&fleet, "pd-01", "pd-hello");
    let v02 = installed(&fleet, "pd-02", "pd-hello");
    let (a01, a02) = (applies(&cli, "pd-01"), applies(&cli, "pd-02"));
    let (after, _) = at(&cli, T0, &["deploy", "status", &id, "--json"]);
    let (rb, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);

    assert_eq!(a_out.status.code(), Some(0), "{a_st}");
    assert_eq!(stage(&a_st, "canary")["state"], "gate", "{a_st}");
    assert_eq!(c_out.status.code(), Some(0), "{c_err}");
    assert!(
        c_err.contains(&format!(
            "deployment {id} is held by patchdesk (pid {}",
            a_pid
        )) && c_err.contains("waiting for it to finish"),
        "C said it waited: {c_err}"
    );
    assert_eq!(stage(&c_st, "canary")["state"], "gate", "{c_st}");
    assert_eq!((v01.as_str(), v02.as_str()), ("1.1-1", "1.1-1"));
    assert_eq!((a01, a02), (1, 1), "one apply per host in the audit log");
    assert_eq!(
        after["held_by"],
        Value::Null,
        "freed when the holders ended"
    );
    assert_eq!(rb["state"], "rolled-back", "{rb}");
}

#[test]
fn a_holder_killed_mid_apply_is_taken_over_and_nothing_is_applied_twice() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    cli.ok(&["settings", "--dpkg-lock-wait", "120"]);
    let id = plan_canary(&cli);
    let mut lock = hold_dpkg_lock(&fleet, "pd-01", 6);
    let mut a = spawn_cli(&cli, T0, &["deploy", "start", &id, "--json"]);
    wait_held_by(&cli, &id, a.id());
    a.kill().unwrap(); // SIGKILL: no chance to free its lease
    let _ = a.wait();
    let (st, _) = at(&cli, T0, &["deploy", "status", &id, "--json"]);
    assert_eq!(
        st["held_by"],
        Value::Null,
        "a dead holder is not shown: {st}"
    );
    // B takes over at once (the holder's process is gone from this machine) and resumes.
    let (b_st, code) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    let _ = lock.wait();
    let taken: Vec<String> = audit_rows(&cli)
        .into_iter()
        .filter(|r| r.1 == "deployment-lease-taken-over")
        .map(|r| r.4)
        .collect();
    let (a01, a02) = (applies(&cli, "pd-01"), applies(&cli, "pd-02"));
    let v01 = installed(&fleet, "pd-01", "pd-hello");
    let (rb, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(code, 0, "{b_st}");
    assert_eq!(stage(&b_st, "canary")["state"], "gate", "{b_st}");
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert!(
        taken[0].contains(&format!(
            "deployment {id}: the lease of patchdesk (pid {}",
            a.id()
        )) && taken[0].ends_with("(its process is gone)"),
        "{taken:?}"
    );
    assert_eq!(v01, "1.1-1");
    assert!(a01 <= 1 && a02 == 1, "never applied twice: {a01} {a02}");
    assert_eq!(a01, 1, "pd-01 was applied by the process that took over");
    assert_eq!(rb["state"], "rolled-back", "{rb}");
}
