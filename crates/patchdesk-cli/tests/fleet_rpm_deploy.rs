//! A mixed-family deployment on the real fleet (`fleet.sh up 6 --rpm 2`): one plan whose canary
//! holds a Debian and an rpm non-prod host (pd-01, pd-r1) and whose wave is an rpm prod host
//! (pd-r2), each host with its own family's commands (apt on pd-01, dnf on the rpm hosts), the
//! whole dnf transaction planned (pd-daemon pulls pd-libfoo-libs along), verified by rescans;
//! then a pin rollback: every host back on its exact previous versions (read with `rpm -q` /
//! `dpkg-query` over plain ssh), the rpm hosts locked with `dnf versionlock` (read with
//! `dnf versionlock list`), the Debian host held; the dnf history id of every rpm change in the
//! audit log (and equal to the host's own `dnf history`); `deploy unpin` lifts the locks.
//!
//! The rpm hosts are opt-in, so this test is `#[ignore]`d in a plain `cargo test`;
//! `scripts/test.sh` runs it in the rpm step with `-- --ignored`.

mod common;

use common::{
    ansible_playbook, at, deploy_plan, export_ansible, plan_stages, planned, run_playbook,
    scanned_version, ssh, stage, Cli, Fleet,
};
use serde_json::Value;

const T0: &str = "2026-11-24T12:00:00Z";

fn host<'a>(st: &'a Value, stage_name: &str, name: &str) -> &'a Value {
    stage(st, stage_name)["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == name)
        .unwrap_or_else(|| panic!("no {name} in {stage_name}: {st}"))
}

/// `NAME-[E:]V-R` of some packages as rpm reports them on the host (plain ssh).
fn rpm_q(fleet: &Fleet, h: &str, pkgs: &str) -> String {
    ssh(
        fleet,
        h,
        &format!("rpm -q --qf '%{{NAME}}-%|EPOCH?{{%{{EPOCH}}:}}:{{}}|%{{VERSION}}-%{{RELEASE}}\\n' {pkgs}"),
    )
}

/// Puts the three hosts back as the fleet made them (versions, no locks, no holds, no apt
/// preferences), before the test and when it ends, even when it fails: the other fleet tests
/// expect them so.
struct Restore<'a>(&'a Fleet);

impl Restore<'_> {
    fn run(&self) {
        let back = |h: &str, specs: &[&str]| {
            let mut script = String::from("dnf -q versionlock clear; ");
            for s in specs {
                script.push_str(&format!(
                    "rpm -q {s} >/dev/null || dnf -y -q downgrade {s} || dnf -y -q install {s}; "
                ));
            }
            script.push_str("true");
            self.0.exec(h, &["sh", "-c", &script]);
        };
        back(
            "pd-r1",
            &[
                "pd-daemon-1.0-1.el9",
                "pd-libfoo-libs-1:3.0-1.el9",
                "pd-hello-1.0-1.el9",
            ],
        );
        back("pd-r2", &["pd-hello-1.0-2.el9"]);
        self.0.exec(
            "pd-01",
            &[
                "sh",
                "-c",
                "apt-mark unhold pd-hello pd-daemon >/dev/null; rm -f /etc/apt/preferences.d/patchdesk-deployment-*; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades pd-hello=1.0-1 pd-daemon=1.0-1 >/dev/null 2>&1; true",
            ],
        );
    }
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        self.run();
    }
}

/// The three hosts in a group of their own (`mixed`), scanned.
fn mixed_cli(fleet: &Fleet) -> Cli {
    let cli = Cli::new();
    for name in ["pd-01", "pd-r1", "pd-r2"] {
        let h = fleet.host(name);
        assert!(h.running, "{name} is not running: `fleet.sh up 6 --rpm 2`");
        cli.add_fleet_host(
            fleet,
            name,
            name,
            &["--env", &h.environment, "--group", "mixed"],
        );
    }
    let kh = fleet.path("known_hosts");
    cli.ok(&["settings", "--known-hosts", kh.to_str().unwrap()]);
    cli.scan_all_ok(T0);
    cli
}

#[test]
#[ignore = "needs the fleet's rpm hosts: fleet.sh up 6 --rpm 2 (scripts/test.sh runs it)"]
fn a_mixed_deployment_through_canary_and_a_wave_then_a_pin_rollback_by_downgrade_and_versionlock() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let restore = Restore(&fleet);
    restore.run();
    let cli = mixed_cli(&fleet);
    let before_r1 = rpm_q(&fleet, "pd-r1", "pd-daemon pd-libfoo-libs pd-hello");
    let before_r2 = rpm_q(&fleet, "pd-r2", "pd-hello");
    assert_eq!(
        before_r1,
        "pd-daemon-1.0-1.el9\npd-libfoo-libs-1:3.0-1.el9\npd-hello-1.0-1.el9\n"
    );
    assert_eq!(before_r2, "pd-hello-1.0-2.el9\n");
    let deb_before = ssh(&fleet, "pd-01", "dpkg-query -W -f='${Version}' pd-hello");

    let (plan, code) = deploy_plan(
        &cli,
        T0,
        &[
            "--name",
            "mixed",
            "--scope",
            "mixed",
            "--package",
            "pd-hello",
            "--package",
            "pd-daemon",
            "--soak-hours",
            "0",
            "--waves",
            "100",
            "--pin",
        ],
    );
    assert_eq!(code, 0, "{plan}");
    let id = plan["deployment_id"].as_i64().expect("stored").to_string();
    let stages = plan_stages(&plan);
    assert_eq!(
        stages,
        [
            (
                "canary".to_string(),
                vec!["pd-01".to_string(), "pd-r1".to_string()]
            ),
            ("100%".to_string(), vec!["pd-r2".to_string()]),
        ],
        "{plan}"
    );
    // The whole dnf transaction of pd-r1, exact on both sides: pd-daemon pulls the library.
    let tx: Vec<(String, String, String, String)> = plan["transaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("-").to_string();
            (s("host"), s("package"), s("from_version"), s("to_version"))
        })
        .collect();
    let want = |h: &str, p: &str, f: &str, t: &str| (h.into(), p.into(), f.into(), t.into());
    let rpm_rows: Vec<_> = tx.iter().filter(|t| t.0 != "pd-01").cloned().collect();
    assert_eq!(
        rpm_rows,
        [
            want("pd-r1", "pd-daemon", "1.0-1.el9", "1.1-1.el9"),
            want("pd-r1", "pd-hello", "1.0-1.el9", "1.1-1.el9"),
            want("pd-r1", "pd-libfoo-libs", "1:3.0-1.el9", "1:3.0-2.el9"),
            want("pd-r2", "pd-hello", "1.0-2.el9", "1.1-1.el9"),
        ],
        "{plan}"
    );
    assert!(
        tx.contains(&want("pd-01", "pd-hello", "1.0-1", "1.1-1")),
        "{plan}"
    );
    let rb = |h: &str| {
        plan["rollback"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["host"] == h)
            .unwrap_or_else(|| panic!("no rollback path for {h}: {plan}"))
            .clone()
    };
    assert_eq!(rb("pd-r1")["kind"], "pin", "{plan}");
    assert!(
        rb("pd-r1")["detail"]
            .as_str()
            .unwrap()
            .contains("dnf versionlock"),
        "{plan}"
    );
    assert_eq!(rb("pd-01")["kind"], "pin", "{plan}");

    // Canary: apt on pd-01, dnf on pd-r1; then go, and the wave on pd-r2.
    let (st, _) = at(&cli, T0, &["deploy", "start", &id, "--json"]);
    assert_eq!(stage(&st, "canary")["state"], "gate", "{st}");
    assert_eq!(host(&st, "canary", "pd-r1")["state"], "applied", "{st}");
    assert_eq!(host(&st, "canary", "pd-01")["state"], "applied", "{st}");
    assert_eq!(
        rpm_q(&fleet, "pd-r1", "pd-daemon pd-libfoo-libs pd-hello"),
        "pd-daemon-1.1-1.el9\npd-libfoo-libs-1:3.0-2.el9\npd-hello-1.1-1.el9\n"
    );
    let (st, _) = at(&cli, T0, &["deploy", "go", &id, "--json"]);
    assert_eq!(host(&st, "100%", "pd-r2")["state"], "applied", "{st}");
    assert_eq!(rpm_q(&fleet, "pd-r2", "pd-hello"), "pd-hello-1.1-1.el9\n");

    // Rollback of every host: downgrades, then locks.
    let (st, _) = at(&cli, T0, &["deploy", "rollback", &id, "--json"]);
    assert_eq!(st["state"], "rolled-back", "{st}");
    for (s, h) in [("canary", "pd-01"), ("canary", "pd-r1"), ("100%", "pd-r2")] {
        assert_eq!(host(&st, s, h)["state"], "rolled-back", "{st}");
        assert_eq!(host(&st, s, h)["pinned"], true, "{st}");
    }
    assert_eq!(
        rpm_q(&fleet, "pd-r1", "pd-daemon pd-libfoo-libs pd-hello"),
        before_r1,
        "exactly as before, by dnf downgrade"
    );
    assert_eq!(rpm_q(&fleet, "pd-r2", "pd-hello"), before_r2);
    assert_eq!(
        ssh(&fleet, "pd-01", "dpkg-query -W -f='${Version}' pd-hello"),
        deb_before
    );
    let locks = ssh(&fleet, "pd-r1", "dnf -q versionlock list");
    for l in [
        "pd-daemon-0:1.0-1.el9.*",
        "pd-libfoo-libs-1:3.0-1.el9.*",
        "pd-hello-0:1.0-1.el9.*",
    ] {
        assert!(locks.lines().any(|x| x.trim() == l), "{l} in {locks:?}");
    }
    assert!(
        ssh(&fleet, "pd-r2", "dnf -q versionlock list").contains("pd-hello-0:1.0-2.el9.*"),
        "pd-r2 locked"
    );
    // A locked package is no longer an update dnf offers.
    let pending = ssh(&fleet, "pd-r1", "dnf -q check-update pd-hello; echo rc=$?");
    assert!(pending.trim_end().ends_with("rc=0"), "{pending}");

    // The audit log: every rpm change followed by its dnf history id, the host's own.
    let log = cli.json(&["audit", "--limit", "1000", "--json"]);
    let log = log.as_array().unwrap();
    let history = |h: &str| -> Vec<(String, u64)> {
        log.iter()
            .filter(|a| a["host"] == h && a["phase"] == "note")
            .filter_map(|a| {
                let d = a["detail"].as_str()?;
                Some((
                    a["action"].as_str()?.to_string(),
                    d.strip_prefix("dnf history id ")?.parse().ok()?,
                ))
            })
            .collect()
    };
    for h in ["pd-r1", "pd-r2"] {
        let ids = history(h);
        let actions: Vec<&str> = ids.iter().map(|(a, _)| a.as_str()).collect();
        // Newest first.
        assert_eq!(actions, ["rollback", "apply"], "{h}: {ids:?}");
        let last = ssh(
            &fleet,
            h,
            "dnf -q history info last | sed -n 's/^Transaction ID *: *//p'",
        );
        assert_eq!(ids[0].1.to_string(), last.trim(), "{h}: the host's own id");
        assert!(ids[1].1 < ids[0].1, "{ids:?}");
        let cmds: Vec<&str> = log
            .iter()
            .filter(|a| a["host"] == h && a["phase"] == "after")
            .filter_map(|a| a["command"].as_str())
            .collect();
        assert!(
            cmds.iter().any(|c| c.contains(
                "dnf -y -q --setopt=install_weak_deps=False --setopt=exit_on_lock=True downgrade "
            ) && c.contains(" pd-hello-1.0-")),
            "{h}: {cmds:?}"
        );
        assert!(
            cmds.iter().any(|c| c.starts_with("dnf -q versionlock add")),
            "{h}: {cmds:?}"
        );
    }
    assert!(history("pd-01").is_empty(), "apt has no dnf history");

    // Unpin lifts the locks (and the Debian hold).
    let (un, _) = at(&cli, T0, &["deploy", "unpin", &id, "--json"]);
    assert_eq!(host(&un, "canary", "pd-r1")["pinned"], false, "{un}");
    assert_eq!(host(&un, "100%", "pd-r2")["pinned"], false, "{un}");
    for h in ["pd-r1", "pd-r2"] {
        let locks = ssh(&fleet, h, "dnf -q versionlock list");
        assert!(!locks.contains("pd-"), "{h}: {locks:?}");
    }
    let status = ssh(&fleet, "pd-01", "dpkg-query -W -f='${Status}' pd-hello");
    assert_eq!(status.trim(), "install ok installed");
}

/// The vendor advisories of the rpm hosts' own repositories (`dnf updateinfo`) land beside the
/// CVEs of their updates, with the advisory id, and the vendor severity decides the bucket:
/// Critical → critical, Important → high, Moderate → moderate, Low → low. Ground truth: `dnf
/// updateinfo list --security` run on each host over plain ssh.
#[test]
#[ignore = "needs the fleet's rpm hosts: fleet.sh up 6 --rpm 2 (scripts/test.sh runs it)"]
fn rpm_advisories_sit_beside_their_cves_and_their_vendor_severity_is_the_bucket() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let restore = Restore(&fleet);
    restore.run();
    let cli = mixed_cli(&fleet);
    let items = cli.json(&["patches", "--json"]);
    let items = items.as_array().unwrap();
    let mut checked = 0;
    for h in ["pd-r1", "pd-r2"] {
        let truth = ssh(&fleet, h, "dnf -q updateinfo list --security");
        assert!(!truth.trim().is_empty(), "{h} has security advisories");
        for line in truth.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [id, label, nevra] = f.as_slice() else {
                panic!("{h}: {line:?}")
            };
            let bucket = match label.split('/').next().unwrap() {
                "Critical" => "critical",
                "Important" => "high",
                "Moderate" => "moderate",
                "Low" => "low",
                other => panic!("{other}"),
            };
            // NEVRA: the package is the part before the version (`pd-libfoo-libs-1:3.0-2.el9.noarch`).
            let item = items
                .iter()
                .find(|p| {
                    p["host"] == *h
                        && nevra.starts_with(&format!("{}-", p["package"].as_str().unwrap()))
                        && nevra[p["package"].as_str().unwrap().len() + 1..]
                            .starts_with(|c: char| c.is_ascii_digit())
                })
                .unwrap_or_else(|| panic!("{h}: no pending update for {nevra}"));
            let cves = item["cves"].as_array().unwrap();
            assert!(
                cves.iter()
                    .any(|c| c["advisory_id"] == *id
                        && c["cve"].as_str().unwrap().starts_with("CVE-")),
                "{h} {id}: {item}"
            );
            assert_eq!(item["bucket"], bucket, "{h} {id} {label}: {item}");
            checked += 1;
        }
        // An update no advisory covers has no CVE and stays low.
        let tools = items
            .iter()
            .find(|p| p["host"] == *h && p["package"] == "pd-tools");
        if let Some(t) = tools {
            assert_eq!(t["bucket"], "low", "{t}");
            assert!(t["cves"].as_array().unwrap().is_empty(), "{t}");
        }
    }
    assert!(checked >= 5, "{checked} advisories checked");

    // Fixed by hand on pd-r1 and seen by the next scan a day later: the vendor's CVEs count in
    // time-to-patch, in the bucket of the vendor's severity (nothing patched before).
    let hello = ssh(
        &fleet,
        "pd-r1",
        "dnf -q updateinfo list --security pd-hello",
    );
    let line = hello
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("pd-r1: no advisory for pd-hello: {hello:?}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    let [_, label, nevra] = f.as_slice() else {
        panic!("{line:?}")
    };
    let bucket = match label.split('/').next().unwrap() {
        "Critical" => "critical",
        "Important" => "high",
        "Moderate" => "moderate",
        _ => "low",
    };
    let patched_in = |c: &Value| {
        c["time_to_patch"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["bucket"] == bucket)
            .map_or(0, |t| t["patched"].as_u64().unwrap())
    };
    let before = cli.json(&["compliance", "--group", "mixed", "--json"]);
    assert_eq!(patched_in(&before), 0, "{before}");
    // The scan right before and the upgrade may fall in the same second: the fingerprint of
    // the rpm database must still see the change (rpm rewrites its sqlite in place).
    ssh(&fleet, "pd-r1", &format!("dnf -y -q upgrade {nevra}"));
    let t1 = "2026-11-25T12:00:00Z";
    let (scan, code) = at(&cli, t1, &["scan", "pd-r1", "--json"]);
    assert_eq!(code, 0, "{scan}");
    let (after, code) = at(&cli, t1, &["compliance", "--group", "mixed", "--json"]);
    assert_eq!(code, 0, "{after}");
    assert!(patched_in(&after) >= 1, "{bucket}: {after}");
}

/// `deploy export ID --ansible DIR` of a mixed deployment with a pin rollback, run by a real
/// `ansible-playbook` (issue #16): the rpm hosts get their exact versions with dnf and the
/// Debian host with apt, proven by a PatchDesk rescan; the exported rollback downgrades every
/// host to its exact previous versions (PatchDesk rescan) and holds them as PatchDesk's own pin
/// rollback does — `dnf versionlock` on the rpm hosts (`dnf versionlock list` over plain ssh),
/// `apt-mark hold` plus the apt preferences stanza on the Debian host — and the exported
/// `unpin.yml` lifts the holds.
#[test]
#[ignore = "needs the fleet's rpm hosts (fleet.sh up 6 --rpm 2) and ansible-core in $PATCHDESK_CACHE/ansible-venv (scripts/test.sh installs both)"]
fn the_ansible_export_installs_exact_versions_with_dnf_and_exports_the_pin_rollback_as_holds() {
    assert!(
        ansible_playbook().exists(),
        "install ansible-core: python3 -m venv /var/cache/patchdesk/ansible-venv && /var/cache/patchdesk/ansible-venv/bin/pip install ansible-core"
    );
    let _g = common::serial();
    let fleet = Fleet::get();
    let restore = Restore(&fleet);
    restore.run();
    let cli = mixed_cli(&fleet);
    let (plan, id) = planned(
        &cli,
        T0,
        &[
            "--name",
            "export",
            "--scope",
            "mixed",
            "--package",
            "pd-hello",
            "--soak-hours",
            "0",
            "--waves",
            "100",
            "--pin",
        ],
    );
    // (host, from, to) of pd-hello on every host.
    let planned: Vec<(String, String, String)> = plan["transaction"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["package"] == "pd-hello")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
            (s("host"), s("from_version"), s("to_version"))
        })
        .collect();
    let hosts: Vec<&str> = planned.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(hosts, ["pd-01", "pd-r1", "pd-r2"], "{plan}");
    let dir = tempfile::tempdir().unwrap();
    let x = export_ansible(&cli, T0, &id, dir.path());
    assert!(
        x["unpin"].is_string(),
        "a pin rollback exports unpin.yml: {x}"
    );
    let script = |h: &str, f: &str| {
        std::fs::read_to_string(dir.path().join(format!("scripts/{h}/{f}"))).unwrap()
    };
    for h in ["pd-r1", "pd-r2"] {
        let apply = script(h, "apply.sh");
        assert!(
            apply.contains("dnf") && apply.contains("pd-hello-"),
            "{apply}"
        );
        let back = script(h, "rollback.sh");
        assert!(back.contains("dnf -q versionlock add pd-hello-"), "{back}");
    }
    let back = script("pd-01", "rollback.sh");
    assert!(
        back.contains("apt-mark hold pd-hello")
            && back.contains("/etc/apt/preferences.d/patchdesk-deployment-"),
        "{back}"
    );

    let scan = || {
        cli.scan_all_ok(T0);
        hosts
            .iter()
            .map(|h| scanned_version(&cli, T0, h, "pd-hello").unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let (ok, recap) = run_playbook(dir.path(), "playbook.yml");
    assert!(ok, "playbook.yml failed:\n{recap}");
    for h in &hosts {
        let line = recap
            .lines()
            .find(|l| l.starts_with(h) && l.contains("ok="))
            .unwrap_or_else(|| panic!("{h} is in the recap:\n{recap}"));
        assert!(
            line.contains("failed=0") && line.contains("unreachable=0"),
            "{line}"
        );
    }
    let to: Vec<String> = planned.iter().map(|p| p.2.clone()).collect();
    assert_eq!(
        scan(),
        to,
        "after the exported playbook, by a PatchDesk rescan"
    );

    let (ok, out) = run_playbook(dir.path(), "rollback.yml");
    assert!(ok, "rollback.yml failed:\n{out}");
    let from: Vec<String> = planned.iter().map(|p| p.1.clone()).collect();
    assert_eq!(
        scan(),
        from,
        "after the exported rollback, by a PatchDesk rescan"
    );
    for h in ["pd-r1", "pd-r2"] {
        let locks = ssh(&fleet, h, "dnf -q versionlock list");
        let from = &planned.iter().find(|p| p.0 == h).unwrap().1;
        assert!(
            locks
                .lines()
                .any(|l| l.starts_with("pd-hello-") && l.contains(from.as_str())),
            "{h} locked at {from}: {locks}"
        );
        // The lock holds: dnf will not upgrade it.
        let up = ssh(
            &fleet,
            h,
            "dnf -y -q upgrade pd-hello >/dev/null 2>&1; rpm -q pd-hello",
        );
        assert!(up.contains(from.as_str()), "{h}: {up}");
    }
    let holds = ssh(&fleet, "pd-01", "apt-mark showhold");
    assert_eq!(holds.trim(), "pd-hello", "pd-01 held");
    let policy = ssh(&fleet, "pd-01", "apt-cache policy pd-hello");
    assert!(
        policy.contains("1001"),
        "the apt pin at priority 1001: {policy}"
    );

    let (ok, out) = run_playbook(dir.path(), "unpin.yml");
    assert!(ok, "unpin.yml failed:\n{out}");
    for h in ["pd-r1", "pd-r2"] {
        let locks = ssh(&fleet, h, "dnf -q versionlock list");
        assert!(!locks.contains("pd-hello"), "{h} unlocked: {locks}");
    }
    assert_eq!(
        ssh(&fleet, "pd-01", "apt-mark showhold").trim(),
        "",
        "pd-01 unheld"
    );
    drop(restore);
}
