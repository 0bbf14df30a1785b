//! `patchdesk deploy export ID --ansible DIR` on the real fleet (#16): the exported playbook,
//! run by a real `ansible-playbook` (ansible-core from PyPI in a venv under the fleet cache,
//! as bench/ uses it), performs the same plan — a PatchDesk rescan then finds every host at its
//! planned version — and the exported rollback playbook restores the versions before (read with
//! dpkg-query over plain OpenSSH).

mod common;

use common::{
    ansible_playbook, export_ansible, planned, run_playbook, scanned_cli, scanned_version, ssh,
    Fleet,
};

const T0: &str = "2026-11-24T12:00:00Z";

#[test]
#[ignore = "needs ansible-core in $PATCHDESK_CACHE/ansible-venv (scripts/test.sh installs it) and the fleet; run it by name"]
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
    let x = export_ansible(&cli, T0, &id, dir.path());
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
        .map(|(h, _)| (h.clone(), scanned_version(&cli, T0, h, "pd-hello")))
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
