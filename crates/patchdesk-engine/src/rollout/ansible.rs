//! A deployment exported as an Ansible playbook (issue #16), for a fleet that has outgrown one
//! machine: the same plan run by `ansible-playbook` (or AWX/AAP). The rings become `serial`
//! batches (the canary hosts, then production in the exact waves PatchDesk planned, in the same
//! order), any failure stops the run (`max_fail_percentage: 0`), each host runs exactly the
//! commands PatchDesk would run (its family's exact versions: apt `name=version`, dnf
//! `name-[epoch:]version-release`), the group's snapshot hook is a pre-task, the smoke tests
//! and a check that every package is at its planned version are post-tasks; a second playbook
//! rolls back (the recorded rollback path: exact previous versions, or the restore hook; a pin
//! rollback also holds the previous versions as PatchDesk does — `apt-mark hold` plus its apt
//! preferences stanza, or `dnf versionlock add` — and a third playbook, `unpin.yml`, lifts the
//! hold as `deploy unpin` does).
//!
//! Commands travel as script files (`ansible.builtin.script`), never through Jinja templating
//! or YAML quoting; host keys are the pinned ones (a `known_hosts` file, strict checking).
//! Reads the deployment tables only; changes nothing on any host.

use super::manager;
use super::*;
use crate::host::Auth;
use crate::pkg::Family;
use std::path::{Path, PathBuf};

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AnsibleExport {
    pub dir: PathBuf,
    pub playbook: PathBuf,
    pub rollback: PathBuf,
    /// Lifts the holds of a pin rollback (`deploy unpin`); `None` when no host's rollback pins.
    pub unpin: Option<PathBuf>,
    pub inventory: PathBuf,
    pub hosts: usize,
    /// Batch sizes, in order: the canary's, then production's waves.
    pub batches: Vec<usize>,
    /// What the export could not carry over, in words.
    pub notes: Vec<String>,
}

/// One host's part of the plan.
struct Exported {
    host: HostRecord,
    canary: bool,
    apply: String,
    rollback: String,
    verify_apply: String,
    verify_rollback: String,
    restore_by_hook: bool,
    /// A pin rollback: the commands that lift its hold (`unpin.sh`).
    unpin: Option<String>,
}

/// Write `playbook.yml`, `rollback.yml`, `inventory.ini`, `group_vars/all.yml`, `known_hosts`
/// and `scripts/` into `dir` (created; files of an earlier export are replaced).
pub fn export_ansible(inv: &Inventory, id: i64, dir: &Path) -> Result<AnsibleExport> {
    let st = stored_status(inv, id)?;
    let smoke: Vec<String> = inv
        .conn()
        .query_row(
            "SELECT smoke_commands FROM deployments WHERE id = ?1",
            [id],
            |r| r.get::<_, String>(0),
        )
        .map(|j| serde_json::from_str(&j).unwrap_or_default())?;
    let hook = snapshot_hook(inv, &st.scope)?;
    let mut notes = Vec::new();
    let mut hosts: Vec<Exported> = Vec::new();
    let mut batches = Vec::new();
    let mut canary_size = 0;
    for stage in &st.stages {
        let canary = stage.name == "canary";
        let mut n = 0;
        for h in &stage.hosts {
            if let Some(why) = &h.excluded {
                notes.push(format!("{} left out (excluded: {why})", h.host));
                continue;
            }
            let host = inv.host(&h.host)?;
            if !safe_name(&host.spec.name) {
                return Err(Error::Invalid(format!(
                    "{}: this host name cannot name a file of the export; rename the host",
                    host.spec.name
                )));
            }
            let fam = manager::family(inv, &host)?;
            let changes = changes_of(inv, id, &host)?;
            if changes.is_empty() {
                return Err(Error::Invalid(format!(
                    "{}: its transaction was not planned (it could not be checked at plan time): plan again once it is reachable, then export",
                    host.spec.name
                )));
            }
            let kind = rollback_kind(inv, id, &host)?;
            // A pin rollback holds the versions before, as PatchDesk's own rollback does.
            let pins: Vec<(String, String)> = if kind == RollbackKind::Pin {
                changes
                    .iter()
                    .filter_map(|c| Some((c.package.clone(), c.from_version.clone()?)))
                    .collect()
            } else {
                Vec::new()
            };
            let restore_by_hook = kind == RollbackKind::Snapshot;
            if restore_by_hook && hook.is_none() {
                return Err(Error::Invalid(format!(
                    "{}: its rollback is the snapshot hook, which was removed since the plan: set it again, then export",
                    host.spec.name
                )));
            }
            let mut rollback = manager::change_script(fam, &changes, Direction::Rollback)
                .map_err(Error::Invalid)?;
            let mut verify_rollback = verify_script(fam, &changes, Direction::Rollback, &[], id);
            let mut unpin = None;
            if !pins.is_empty() {
                let hold = manager::pin_commands(None, id, fam, &pins).map_err(Error::Invalid)?;
                rollback.push('\n');
                rollback.push_str(&hold.join("\n"));
                verify_rollback = verify_script(fam, &changes, Direction::Rollback, &pins, id);
                let names: Vec<String> = pins.iter().map(|(p, _)| p.clone()).collect();
                unpin = Some(
                    manager::unpin_commands(None, id, fam, &names)
                        .map_err(Error::Invalid)?
                        .join("\n"),
                );
            }
            hosts.push(Exported {
                apply: manager::change_script(fam, &changes, Direction::Apply)
                    .map_err(Error::Invalid)?,
                rollback,
                verify_apply: verify_script(fam, &changes, Direction::Apply, &[], id),
                verify_rollback,
                unpin,
                restore_by_hook,
                canary,
                host,
            });
            n += 1;
        }
        if n == 0 {
            continue;
        }
        if canary {
            canary_size += n;
        } else {
            batches.push(n);
        }
    }
    if hosts.is_empty() {
        return Err(Error::Invalid(format!(
            "deployment {id} has no host to export"
        )));
    }
    let io = |what: &Path, e: std::io::Error| Error::Io(what.display().to_string(), e);
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let dir = dir.canonicalize().map_err(|e| io(dir, e))?;
    let write = |rel: &str, text: &str| -> Result<PathBuf> {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&p, text).map_err(|e| io(&p, e))?;
        Ok(p)
    };
    let script = |body: &str| format!("#!/bin/sh\nset -e\n{body}\n");

    // Inventory: the canary group, then production in PatchDesk's wave order.
    let mut ini = String::from(
        "# Written by PatchDesk (deploy export): the hosts of the deployment, in its order.\n",
    );
    for (group, canary) in [("canary", true), ("production", false)] {
        ini.push_str(&format!("[{group}]\n"));
        for h in hosts.iter().filter(|h| h.canary == canary) {
            let s = &h.host.spec;
            ini.push_str(&format!(
                "{} ansible_host={} ansible_port={} ansible_user={}",
                s.name, s.address, s.port, s.user
            ));
            if let Auth::KeyFile { path } = &s.auth {
                let p = path.display().to_string();
                if p.chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '"')
                {
                    return Err(Error::Invalid(format!(
                        "{}: its key path contains blanks or quotes; move the key, then export",
                        s.name
                    )));
                }
                ini.push_str(&format!(" ansible_ssh_private_key_file={p}"));
            }
            ini.push('\n');
        }
    }
    let inventory = write("inventory.ini", &ini)?;

    // The pinned host keys, nothing else trusted.
    let mut known = String::new();
    for h in &hosts {
        let s = &h.host.spec;
        let Some(key) = h.host.host_key.as_deref() else {
            return Err(Error::Invalid(format!(
                "{}: its host key is not pinned yet: scan it first, then export",
                s.name
            )));
        };
        let addr = if s.port == 22 {
            s.address.clone()
        } else {
            format!("[{}]:{}", s.address, s.port)
        };
        known.push_str(&format!("{addr} {}\n", key.trim()));
    }
    let known_hosts = write("known_hosts", &known)?;
    let group_vars = serde_json::json!({
        "ansible_ssh_common_args": format!(
            "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
            known_hosts.display()
        ),
    });
    write("group_vars/all.yml", &yaml(&group_vars)?)?;

    for h in &hosts {
        let n = &h.host.spec.name;
        write(&format!("scripts/{n}/apply.sh"), &script(&h.apply))?;
        write(&format!("scripts/{n}/verify.sh"), &script(&h.verify_apply))?;
        write(&format!("scripts/{n}/rollback.sh"), &script(&h.rollback))?;
        write(
            &format!("scripts/{n}/verify-rollback.sh"),
            &script(&h.verify_rollback),
        )?;
        if let Some(u) = &h.unpin {
            write(&format!("scripts/{n}/unpin.sh"), &script(u))?;
        }
    }
    // Smoke tests: each command as it is run on the host (`sh -c`), stopping at the first failure.
    let smoke_body: Vec<String> = smoke
        .iter()
        .map(|c| {
            format!(
                "sh -c {} || {{ echo 'smoke test failed: '{} >&2; exit 1; }}",
                shell_quote(c),
                shell_quote(c)
            )
        })
        .collect();
    write("scripts/smoke.sh", &script(&smoke_body.join("\n")))?;
    if let Some(hk) = &hook {
        write("scripts/snapshot.sh", &script(&hk.snapshot))?;
        write("scripts/restore.sh", &script(&hk.restore))?;
    }

    let become_ = "{{ ansible_user != 'root' }}";
    let per_host = |file: &str| format!("scripts/{{{{ inventory_hostname }}}}/{file}");
    let hook_task = |which: &str, hk: &SnapshotHook| {
        let mut t = serde_json::json!({
            "name": format!("the group's {which} hook"),
            "ansible.builtin.script": format!("scripts/{which}.sh"),
        });
        if hk.on != "host" {
            // A hook of this machine, told which host it is for (as PatchDesk runs it).
            t["delegate_to"] = "localhost".into();
            t["become"] = false.into();
            t["environment"] = serde_json::json!({
                "PATCHDESK_HOST": "{{ inventory_hostname }}",
                "PATCHDESK_ADDRESS": "{{ ansible_host }}",
            });
        } else {
            t["become"] = become_.into();
        }
        t
    };
    let play = |group: &str, serial: serde_json::Value| {
        let mut p = serde_json::json!({
            "name": format!("PatchDesk deployment {id} ({}): {group}", st.name),
            "hosts": group,
            "serial": serial,
            "order": "inventory",
            "max_fail_percentage": 0,
            "any_errors_fatal": true,
            "gather_facts": false,
            "tasks": [{
                "name": "apply the planned transaction (exact versions)",
                "ansible.builtin.script": per_host("apply.sh"),
                "become": become_,
            }],
            "post_tasks": [
                {
                    "name": "smoke tests",
                    "ansible.builtin.script": "scripts/smoke.sh",
                    "become": become_,
                },
                {
                    "name": "every package at its planned version",
                    "ansible.builtin.script": per_host("verify.sh"),
                },
            ],
        });
        if let Some(hk) = &hook {
            p["pre_tasks"] = serde_json::json!([hook_task("snapshot", hk)]);
        }
        p
    };
    let mut plays = Vec::new();
    if canary_size > 0 {
        plays.push(play("canary", canary_size.into()));
    }
    if !batches.is_empty() {
        plays.push(play("production", serde_json::json!(batches)));
    }
    let playbook = write("playbook.yml", &yaml(&serde_json::Value::Array(plays))?)?;

    // Rollback: every host at once (as `patchdesk deploy rollback`), each by its recorded path.
    let mut tasks = vec![serde_json::json!({
        "name": "back to the exact versions before the deployment",
        "ansible.builtin.script": per_host("rollback.sh"),
        "become": become_,
        "when": "not (patchdesk_restore_by_hook | default(false))",
    })];
    if let Some(hk) = &hook {
        let mut t = hook_task("restore", hk);
        t["when"] = "patchdesk_restore_by_hook | default(false)".into();
        tasks.push(t);
    }
    tasks.push(serde_json::json!({
        "name": "every package back at its version before the deployment",
        "ansible.builtin.script": per_host("verify-rollback.sh"),
    }));
    // Per host: restored by the hook, and/or held by a pin rollback.
    for h in hosts
        .iter()
        .filter(|h| h.restore_by_hook || h.unpin.is_some())
    {
        let mut vars = serde_json::Map::new();
        if h.restore_by_hook {
            vars.insert("patchdesk_restore_by_hook".into(), true.into());
        }
        if h.unpin.is_some() {
            vars.insert("patchdesk_pinned".into(), true.into());
        }
        write(
            &format!("host_vars/{}.yml", h.host.spec.name),
            &yaml(&serde_json::Value::Object(vars))?,
        )?;
    }
    let rollback = write(
        "rollback.yml",
        &yaml(&serde_json::json!([{
            "name": format!("PatchDesk deployment {id} ({}): rollback", st.name),
            "hosts": "canary:production",
            "gather_facts": false,
            "tasks": tasks,
        }]))?,
    )?;
    // Lift the holds of a pin rollback once the bad version is fixed upstream (`deploy unpin`).
    let unpin = if hosts.iter().any(|h| h.unpin.is_some()) {
        Some(write(
            "unpin.yml",
            &yaml(&serde_json::json!([{
                "name": format!("PatchDesk deployment {id} ({}): lift the rollback's pins", st.name),
                "hosts": "canary:production",
                "gather_facts": false,
                "tasks": [{
                    "name": "lift the hold on the versions before the deployment",
                    "ansible.builtin.script": per_host("unpin.sh"),
                    "become": become_,
                    "when": "patchdesk_pinned | default(false)",
                }],
            }]))?,
        )?)
    } else {
        None
    };
    let mut all_batches = Vec::new();
    if canary_size > 0 {
        all_batches.push(canary_size);
    }
    all_batches.extend(&batches);
    Ok(AnsibleExport {
        dir,
        playbook,
        rollback,
        unpin,
        inventory,
        hosts: hosts.len(),
        batches: all_batches,
        notes,
    })
}

fn yaml(v: &serde_json::Value) -> Result<String> {
    serde_norway::to_string(v)
        .map(|y| format!("# Written by PatchDesk (deploy export).\n{y}"))
        .map_err(|e| Error::Invalid(format!("the export could not be written as YAML: {e}")))
}

/// A name usable as a directory of the export (host names are validated on import; checked
/// again here).
fn safe_name(n: &str) -> bool {
    !n.is_empty()
        && n != "."
        && n != ".."
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// A script that fails (naming the package) unless every package of the transaction is at its
/// version in this direction (absent where the direction removes it), and every package of
/// `held` is held at its version as a pin rollback leaves it (Debian: `apt-mark showhold` and
/// the deployment's apt preferences stanza; rpm: its `dnf versionlock list` entry).
fn verify_script(
    fam: Family,
    changes: &[Change],
    dir: Direction,
    held: &[(String, String)],
    id: i64,
) -> String {
    let have_fn = match fam {
        // `ii 1.2-1`: the status letters and the version.
        Family::Deb => "have() { dpkg-query -W -f='${db:Status-Abbrev}${Version}\\n' \"$1\" 2>/dev/null | sed -n 's/^.i.//p'; }",
        // Every installed version (install-only packages), `[E:]V-R` as PatchDesk stores it.
        Family::Rpm => "have() { rpm -q --qf '%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n' \"$1\" 2>/dev/null | grep -v 'not installed' || true; }",
    };
    let mut s = format!("{have_fn}\nbad=0\n");
    for c in changes {
        let want = match dir {
            Direction::Apply => c.to_version.as_deref(),
            Direction::Rollback => c.from_version.as_deref(),
        };
        let p = shell_quote(transaction::base_name(&c.package));
        match want {
            Some(v) => s.push_str(&format!(
                "have {p} | grep -qxF -- {v} || {{ echo {p}': not at '{v}' (has '\"$(have {p} | tr '\\n' ' ')\" >&2; bad=1; }}\n",
                v = shell_quote(v)
            )),
            None => s.push_str(&format!(
                "[ -z \"$(have {p})\" ] || {{ echo {p}' is still installed' >&2; bad=1; }}\n"
            )),
        }
    }
    for (p, v) in held {
        let name = transaction::base_name(p);
        let q = shell_quote(name);
        match fam {
            Family::Deb => s.push_str(&format!(
                "apt-mark showhold | grep -qxF -- {q} || {{ echo {q}' is not held' >&2; bad=1; }}\ngrep -qxF -- {stanza} {file} 2>/dev/null || {{ echo {q}' has no apt pin at '{vq} >&2; bad=1; }}\n",
                stanza = shell_quote(&format!("Pin: version {v}")),
                file = shell_quote(&crate::pkg::deb::pin_file(id)),
                vq = shell_quote(v),
            )),
            Family::Rpm => {
                // `dnf versionlock list` names the epoch always: `pd-hello-0:1.0-1.el9.*`.
                let evr = if v.contains(':') {
                    v.clone()
                } else {
                    format!("0:{v}")
                };
                s.push_str(&format!(
                    "dnf -q versionlock list 2>/dev/null | grep -qxF -- {lock} || {{ echo {q}' is not locked at '{vq} >&2; bad=1; }}\n",
                    lock = shell_quote(&format!("{name}-{evr}.*")),
                    vq = shell_quote(v),
                ));
            }
        }
    }
    s.push_str("exit $bad");
    s
}
