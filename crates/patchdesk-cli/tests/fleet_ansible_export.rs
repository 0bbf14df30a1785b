//! `patchdesk deploy export ID --ansible DIR` on the real fleet (#16): the exported playbook,
//! run by a real `ansible-playbook` (ansible-core from PyPI in a venv under the fleet cache,
//! as bench/ uses it), performs the same plan — a PatchDesk rescan then finds every host at its
//! planned version — and the exported rollback playbook restores the versions before (read with
//! dpkg-query over plain OpenSSH).

mod common;

use common::{at, planned, scanned_cli, ssh, Fleet};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const T0: &str = "2026-11-24T12:00:00Z";

fn ansible_playbook() -> PathBuf {
    let cache = std::env::var("PATCHDESK_CACHE").unwrap_or_else(|_| "/var/cache/patchdesk".into());
    PathBuf::from(cache).join("ansible-venv/bin/ansible-playbook")
}

/// The version of `pkg` in a host's last scan (`host show --packages --json`).
fn scanned_version(cli: &common::Cli, host: &str, pkg: &str) -> Option<String> {
    fn find(v: &Value, pkg: &str) -> Option<String> {
        match v {
            Value::Object(m) => {
                if m.get("name").and_then(Value::as_str) == Some(pkg) {
                    if let Some(ver) = m.get("version").and_then(Value::as_str) {
                        return Some(ver.to_string());
                    }
                }
                m.values().find_map(|x| find(x, pkg))
            }
            Value::Array(a) => a.iter().find_map(|x| find(x, pkg)),
            _ => None,
        }
    }
    let (v, code) = at(cli, T0, &["host", "show", host, "--packages", "--json"]);
    assert_eq!(code, 0, "{v}");
    find(&v["host"], pkg)
}

/// Run a playbook: whether it succeeded, and its output.
fn run_playbook(dir: &std::path::Path, playbook: &str) -> (bool, String) {
    let out = Command::new(ansible_playbook())
        .current_dir(dir)
        .args(["-i", "inventory.ini", playbook])
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .output()
        .expect("ansible-playbook runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
#[ignore = "needs ansible-core in $PATCHDESK_CACHE/ansible-venv (bench/scan.sh installs it) and the fleet; run it by name"]
fn the_exported_playbook_performs_the_plan_and_its_rollback_restores_it() {
    assert!(
        ansible_playbook().exists(),
        "install ansible-core: python3 -m venv /var/cache/patchdesk/ansible-venv && /var/cache/patchdesk/ansible-venv/bin/pip install ansible-core"
    );
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = scanned_cli(&fleet, T0);
    let (plan, id) = planned(
        &cli,
        T0,
        &[
            "--name",
            "hello",
            "--scope",
            "web",
            "--package",
            "pd-hello",
            "--smoke",
            "pd-hello-smoke",
        ],
    );
    let hosts: Vec<String> = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["hosts"].as_array().unwrap().iter())
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert!(hosts.len() >= 3, "a canary and production: {plan}");
    let planned: Vec<(String, String)> = plan["transaction"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["package"] == "pd-hello")
        .map(|c| {
            (
                c["host"].as_str().unwrap().to_string(),
                c["to_version"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let before: Vec<String> = hosts
        .iter()
        .map(|h| ssh(&fleet, h, "dpkg-query -W -f='${Version}' pd-hello"))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let (x, code) = at(
        &cli,
        T0,
        &[
            "deploy",
            "export",
            &id,
            "--ansible",
            dir.path().to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{x}");
    assert_eq!(x["hosts"].as_u64().unwrap() as usize, hosts.len(), "{x}");
    let book = std::fs::read_to_string(dir.path().join("playbook.yml")).unwrap();
    assert!(book.contains("max_fail_percentage: 0"), "{book}");
    assert!(book.contains("serial:"), "{book}");

    let (ok, recap) = run_playbook(dir.path(), "playbook.yml");
    if !ok {
        // Leave the fleet as it was for the other tests, then fail.
        let (_, back) = run_playbook(dir.path(), "rollback.yml");
        panic!("playbook.yml failed:\n{recap}\nrollback:\n{back}");
    }
    for h in &hosts {
        let line = recap
            .lines()
            .find(|l| l.starts_with(h.as_str()) && l.contains("ok="))
            .unwrap_or_else(|| panic!("{h} is in the recap:\n{recap}"));
        assert!(
            line.contains("failed=0") && line.contains("unreachable=0"),
            "{line}"
        );
    }
    // A PatchDesk rescan: every host carries its planned version.
    let out = cli.cmd_with(&["scan", "--all"], &[("PATCHDESK_NOW", T0)]);
    assert_eq!(out.status.code(), Some(2), "pd-06 is down, the rest scan");
    let scanned: Vec<(String, Option<String>)> = planned
        .iter()
        .map(|(h, _)| (h.clone(), scanned_version(&cli, h, "pd-hello")))
        .collect();

    // Rolled back before the apply is judged: the fleet is left as it was for the other tests.
    let (ok, out) = run_playbook(dir.path(), "rollback.yml");
    assert!(ok, "rollback.yml failed:\n{out}");
    let want: Vec<(String, Option<String>)> = planned
        .iter()
        .map(|(h, v)| (h.clone(), Some(v.clone())))
        .collect();
    assert_eq!(
        scanned, want,
        "after the exported playbook, by a PatchDesk rescan"
    );
    let after: Vec<String> = hosts
        .iter()
        .map(|h| ssh(&fleet, h, "dpkg-query -W -f='${Version}' pd-hello"))
        .collect();
    assert_eq!(after, before, "the rollback playbook restored every host");
}
