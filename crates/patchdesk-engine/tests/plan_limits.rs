//! Planning's limits: the rollback-path probe connects to at most `concurrency` hosts at once
//! (measured on a real TCP listener that counts open connections), and a plan's smoke tests obey
//! the same rule as a group's (issue #9 items 7 and 13).

use chrono::{TimeZone, Utc};
use patchdesk_engine::clock::ManualClock;
use patchdesk_engine::facts::{HostFacts, Package, PendingUpdate};
use patchdesk_engine::host::{Environment, HostSpec};
use patchdesk_engine::inventory::{Inventory, ScanOutcome};
use patchdesk_engine::rollout::{self, PlanRequest};
use patchdesk_engine::settings::Settings;
use patchdesk_engine::ssh::SshOptions;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF5aswBNkB5RlLL9Rf+lDnzbOXP6vgqZrAuJZK1RmW6J";

/// `n` scanned hosts in group `web`, all at 127.0.0.1:`port`, each with pd-hello pending.
fn fleet(n: usize, port: u16) -> Inventory {
    let t = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let mut inv = Inventory::open_in_memory(Arc::new(ManualClock::new(t))).unwrap();
    for i in 0..n {
        let name = format!("h{i:02}");
        let mut spec = HostSpec::new(&name, "127.0.0.1");
        spec.port = port;
        spec.groups = vec!["web".into()];
        spec.environment = if i < 2 {
            Environment::NonProd
        } else {
            Environment::Prod
        };
        inv.add_host(&spec).unwrap();
        inv.pin_host_key(&name, KEY, "SHA256:x", "accepted")
            .unwrap();
        let facts = HostFacts {
            os_id: "debian".into(),
            state_fingerprint: format!("{i:02x}"),
            packages: Some(vec![Package {
                name: "pd-hello".into(),
                version: "1.0-1".into(),
                arch: "all".into(),
                source: "pd-hello".into(),
                source_version: "1.0-1".into(),
                status: "ii".into(),
            }]),
            pending: Some(vec![PendingUpdate {
                name: "pd-hello".into(),
                arch: "all".into(),
                installed_version: "1.0-1".into(),
                candidate_version: "1.1-1".into(),
                origin: "bookworm-security".into(),
                security: true,
                held: false,
            }]),
            ..Default::default()
        };
        inv.record_scan(
            &name,
            t,
            t,
            &ScanOutcome::Ok {
                facts: Box::new(facts),
                bytes_received: 1,
            },
            None,
        )
        .unwrap();
    }
    inv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollback_probe_connects_to_at_most_concurrency_hosts_at_once() {
    // A wedged sshd: accepts, says nothing, and notes when each connection arrived.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::Mutex::new(Vec::<std::time::Instant>::new()));
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            a.lock().unwrap().push(std::time::Instant::now());
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    let mut inv = fleet(20, port);
    Settings {
        concurrency: 4,
        ..Settings::default()
    }
    .save(&inv)
    .unwrap();
    let ssh = SshOptions {
        connect_timeout: Duration::from_millis(300),
        known_hosts: vec![],
        ..SshOptions::default()
    };
    let req = PlanRequest {
        name: "probe".into(),
        scope: "web".into(),
        packages: vec!["pd-hello".into()],
        ..PlanRequest::default()
    };
    let plan = rollout::plan(&mut inv, &req, &ssh).await.unwrap();
    assert_eq!(plan.rollback.len(), 20, "every host was probed");
    assert!(plan
        .rollback
        .iter()
        .all(|r| !r.ok && r.detail.contains("timed out")));
    // Each probe holds its connection for the 300 ms connect timeout, so connections that
    // arrive within 150 ms of each other were open at the same time (without the limit, all 20
    // arrive within a few milliseconds).
    let times = accepted.lock().unwrap().clone();
    assert_eq!(times.len(), 20);
    let seen = times
        .iter()
        .map(|t| {
            times
                .iter()
                .filter(|u| **u >= *t && **u - *t < Duration::from_millis(150))
                .count()
        })
        .max()
        .unwrap();
    eprintln!("at most {seen} connections opened within 150 ms (concurrency 4, 20 hosts)");
    assert!(
        (1..=4).contains(&seen),
        "{seen} hosts were probed at once (concurrency 4)"
    );
}

#[tokio::test]
async fn plan_smoke_tests_are_validated_like_a_groups() {
    let mut inv = fleet(3, 9);
    for bad in [
        vec!["systemctl is-active nginx\nrm -rf /".to_string()],
        vec!["echo \u{1b}]0;x\u{7}".to_string()],
        vec!["x".repeat(1001)],
        vec!["true".to_string(); 33],
    ] {
        let req = PlanRequest {
            name: "smoke".into(),
            scope: "web".into(),
            packages: vec!["pd-hello".into()],
            smoke: bad.clone(),
            ..PlanRequest::default()
        };
        let e = rollout::plan(&mut inv, &req, &SshOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("one command line") || e.contains("at most 32"),
            "{bad:?}: {e}"
        );
    }
    assert!(
        rollout::list(&inv).unwrap().is_empty(),
        "nothing was stored"
    );
}

/// A plan to a selection of hosts (Hosts' "Deploy to selection…", Patches' "Deploy to N
/// hosts…"): only those hosts are staged, a host outside the given scope or unknown is refused
/// by name, and a refused plan stores nothing.
#[tokio::test]
async fn a_plan_to_selected_hosts_stages_only_them() {
    let mut inv = fleet(6, 9);
    inv.add_host(&HostSpec::new("elsewhere", "127.0.0.1"))
        .unwrap();
    let req = |scope: &str, hosts: &[&str]| PlanRequest {
        name: "selection".into(),
        scope: scope.into(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        packages: vec!["pd-hello".into()],
        ..PlanRequest::default()
    };
    let ssh = SshOptions {
        connect_timeout: Duration::from_millis(300),
        ..SshOptions::default()
    };
    for (scope, hosts, want) in [
        (
            "web",
            &["h01", "elsewhere"][..],
            "\"elsewhere\" is not in group \"web\"",
        ),
        ("h01", &["h02"][..], "\"h02\" is not in host \"h01\""),
        ("", &["h01", "nosuch"][..], "nosuch"),
    ] {
        let e = rollout::plan(&mut inv, &req(scope, hosts), &ssh)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{scope} {hosts:?}: {e}");
    }
    for scope in ["", "web"] {
        let plan = rollout::plan(&mut inv, &req(scope, &["h01", "h04", "h05"]), &ssh)
            .await
            .unwrap();
        let mut staged: Vec<&str> = plan
            .stages
            .iter()
            .flat_map(|s| s.hosts.iter().map(String::as_str))
            .collect();
        staged.sort();
        assert_eq!(staged, ["h01", "h04", "h05"], "scope {scope:?}");
        // Unreachable (port 9): no rollback path, so the plan is blocked and nothing stored.
        assert!(!plan.blocked().is_empty() && plan.deployment_id.is_none());
    }
    assert!(
        rollout::list(&inv).unwrap().is_empty(),
        "nothing was stored"
    );
}
