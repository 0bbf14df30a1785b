//! The package manager of each host, as the rollout uses it: picks the host's family and turns
//! "apply / roll back exactly this transaction", "is it still the plan", "wait for the lock",
//! "was a transaction interrupted", "which versions are installed", "pin / unpin" into that
//! family's commands from [`crate::pkg`] (rendered only through `shell_quote`), run over SSH.
//! Owns no table and spells no package-manager command itself; must not parse scan output.
//! `plan`, `run` and `rollback` call it and never name apt, dpkg, rpm or dnf.

use super::transaction::{check_simulation, Step};
use super::*;
use crate::pkg::rpm::{commands::Target, parse as rpm_parse, transaction as rpm_tx, Evr};
use crate::pkg::{self, deb, Family};

/// The family of a host, from the OS of its last scan. A host never scanned has nothing to
/// deploy; it counts as Debian (what PatchDesk managed first).
pub(super) fn family(inv: &Inventory, host: &HostRecord) -> Result<Family> {
    let os: Option<String> = inv
        .conn()
        .query_row(
            "SELECT os_id FROM scans WHERE host_id = ?1 AND ok = 1 AND os_id IS NOT NULL ORDER BY id DESC LIMIT 1",
            [host.id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(os
        .and_then(|o| Family::from_os_release(&o, ""))
        .unwrap_or(Family::Deb))
}

/// How a family's tools are named in what the rollout says to the user.
pub(super) struct Words {
    /// The low-level package tool whose lock a change waits for: `dpkg`.
    pub tool: &'static str,
    /// The interrupted-transaction check, as the user would type it: `dpkg --audit`.
    pub check: &'static str,
    /// The start of the check's failure message (a resume that finds it cleared says "repaired").
    pub check_failed: &'static str,
}

pub(super) fn words(fam: Family) -> Words {
    match fam {
        Family::Deb => Words {
            tool: "dpkg",
            check: "dpkg --audit",
            check_failed: "dpkg --audit reports",
        },
        Family::Rpm => Words {
            tool: "rpm",
            check: "dnf check",
            check_failed: "dnf check reports",
        },
    }
}

/// The recorded versions of some changes as exact rpm targets (`to` on apply, `from` on
/// rollback); the names and versions were validated when recorded, and are again.
fn rpm_targets<'a>(
    changes: impl Iterator<Item = &'a Change>,
    dir: Direction,
) -> std::result::Result<Vec<Target>, String> {
    changes
        .filter_map(|c| {
            let v = match dir {
                Direction::Apply => c.to_version.as_deref(),
                Direction::Rollback => c.from_version.as_deref(),
            }?;
            Some(
                v.parse::<Evr>()
                    .map_err(|e| e.to_string())
                    .and_then(|evr| Target::new(&c.package, &evr, None).map_err(|e| e.to_string()))
                    .map_err(|e| format!("{}: {e}", c.package)),
            )
        })
        .collect()
}

/// The rpm change of a recorded transaction, as its dnf calls (see `pkg::rpm::transaction`).
fn rpm_change(changes: &[Change], dir: Direction) -> std::result::Result<Vec<pkg::Argv>, String> {
    let of = |k: ChangeKind| changes.iter().filter(move |c| c.kind == k);
    let cmds = match dir {
        Direction::Apply => {
            let up = rpm_targets(of(ChangeKind::Upgrade), dir)?;
            if up.is_empty() {
                // Only new packages: install them (dnf resolves the rest, checked beforehand).
                let new = rpm_targets(of(ChangeKind::Install), dir)?;
                rpm_tx::change(false, &[], &[], &new)
            } else {
                rpm_tx::change(false, &up, &[], &[])
            }
        }
        Direction::Rollback => {
            let down = rpm_targets(of(ChangeKind::Upgrade), dir)?;
            let remove: Vec<&str> = of(ChangeKind::Install)
                .map(|c| c.package.as_str())
                .collect();
            let back = rpm_targets(of(ChangeKind::Remove), dir)?;
            rpm_tx::change(true, &down, &remove, &back)
        }
    };
    cmds.map_err(|e| e.to_string())
}

/// The read-only dnf simulation of the same change (`--assumeno`); `None` when the direction
/// has nothing dnf resolves (a rollback of new packages only: their removal).
fn rpm_simulation(
    changes: &[Change],
    dir: Direction,
) -> std::result::Result<Option<pkg::Argv>, String> {
    let up: Vec<&Change> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Upgrade)
        .collect();
    Ok(match dir {
        Direction::Apply if up.is_empty() => {
            let new = rpm_targets(
                changes.iter().filter(|c| c.kind == ChangeKind::Install),
                dir,
            )?;
            (!new.is_empty()).then(|| rpm_tx::simulate("install", &new))
        }
        Direction::Apply => Some(rpm_tx::simulate(
            "upgrade",
            &rpm_targets(up.into_iter(), dir)?,
        )),
        Direction::Rollback if up.is_empty() => None,
        Direction::Rollback => Some(rpm_tx::simulate(
            "downgrade",
            &rpm_targets(up.into_iter(), dir)?,
        )),
    })
}

/// Run a dnf simulation on an open connection and read the transaction it shows, with the
/// installed versions of its packages (`rpm -q`) on the `from` side.
pub(super) async fn rpm_steps(
    conn: &Session,
    sim: &pkg::Argv,
) -> std::result::Result<Vec<Step>, String> {
    let out = conn
        .run(&format!("{} </dev/null", pkg::render(sim)), None)
        .await
        .map_err(|e| format!("cannot check: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows = match rpm_tx::parse_table(&stdout) {
        Ok(rows) if matches!(out.exit_status, Some(0 | 1)) => rows,
        res => {
            let err: String = String::from_utf8_lossy(&out.stderr)
                .lines()
                .chain(stdout.lines())
                .map(str::trim)
                .filter(|l| {
                    l.starts_with("Error") || l.starts_with("Problem") || l.contains("package ")
                })
                .take(3)
                .collect::<Vec<_>>()
                .join(" / ");
            let why = match res {
                Err(e) => e,
                Ok(_) => format!("exit {}", out.exit_status.map(i64::from).unwrap_or(-1)),
            };
            return Err(format!(
                "dnf cannot resolve the transaction ({}): {}",
                crate::text::clean(&why),
                crate::text::clean(&err)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
    };
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let installed = if names.is_empty() {
        BTreeMap::new()
    } else {
        let out = conn
            .run(&rpm_tx::query(&names), None)
            .await
            .map_err(|e| format!("cannot check: {e}"))?;
        rpm_tx::parse_query(&String::from_utf8_lossy(&out.stdout))
    };
    Ok(rpm_tx::steps(&rows, &installed))
}

/// The packages of a transaction as it ends in this direction: `(package, version)`, `None`
/// for a package that ends removed.
fn wants(changes: &[Change], dir: Direction) -> Vec<deb::Want<'_>> {
    changes
        .iter()
        .map(|c| {
            let v = match dir {
                Direction::Apply => c.to_version.as_deref(),
                Direction::Rollback => c.from_version.as_deref(),
            };
            (c.package.as_str(), v)
        })
        .collect()
}

/// The exact targets in the family's own spelling (`pkg=1.2-1 pkg2-`), for the progress line.
pub(super) fn describe(fam: Family, changes: &[Change], dir: Direction) -> String {
    match fam {
        Family::Deb => deb::package_args(&wants(changes, dir)).join(" "),
        Family::Rpm => wants(changes, dir)
            .iter()
            .map(|(p, v)| match v {
                Some(v) => format!("{p}-{v}"),
                None => format!("(remove) {p}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The changing command for a recorded transaction in one direction (run detached, see
/// [`detached`]): install exactly the versions it ends with, then give back apt's "automatically
/// installed" mark to the packages that had it (naming a package marks it manual) and, on
/// apply, to the packages the upgrade pulled in (as apt would have).
pub(super) fn change_command(
    host: &HostRecord,
    fam: Family,
    changes: &[Change],
    dir: Direction,
) -> std::result::Result<String, String> {
    let cmd = change_script(fam, changes, dir)?;
    Ok(detached(host, &cmd))
}

/// The shell text of [`change_command`] as root, before it is detached (what the Ansible export
/// runs on each host).
pub(super) fn change_script(
    fam: Family,
    changes: &[Change],
    dir: Direction,
) -> std::result::Result<String, String> {
    match fam {
        Family::Deb => {
            let w = wants(changes, dir);
            let mut cmd = pkg::render(&deb::install(&w, dir == Direction::Rollback));
            let auto: Vec<&str> = changes
                .iter()
                .filter(|c| match dir {
                    Direction::Apply => {
                        c.to_version.is_some() && (c.was_auto || c.from_version.is_none())
                    }
                    Direction::Rollback => c.from_version.is_some() && c.was_auto,
                })
                .map(|c| c.package.as_str())
                .collect();
            if let Some(mark) = deb::mark_auto(&auto) {
                cmd.push_str(&format!(" && {} >/dev/null", pkg::render(&mark)));
            }
            Ok(cmd)
        }
        Family::Rpm => Ok(pkg::render_all(&rpm_change(changes, dir)?)),
    }
}

/// Ask the package manager, read-only, what it would do for exactly the recorded transaction in
/// this direction, and refuse (nothing changed) unless it is exactly what was planned.
pub(super) async fn check_on_host(
    host: &HostRecord,
    fam: Family,
    changes: &[Change],
    dir: Direction,
    ssh: &SshOptions,
) -> std::result::Result<(), String> {
    let what = match dir {
        Direction::Apply => "apply",
        Direction::Rollback => "roll back",
    };
    let steps: Vec<Step> = match fam {
        Family::Deb => deb_steps(host, changes, dir, what, ssh).await?,
        Family::Rpm => {
            let Some(sim) = rpm_simulation(changes, dir)? else {
                return Ok(());
            };
            let conn = connect(host, ssh).await.map_err(|e| e.to_string())?;
            let res = rpm_steps(&conn, &sim).await;
            conn.close().await;
            res.map_err(|e| {
                format!("{e}; cannot {what} exactly the planned transaction: nothing was changed")
            })?
        }
    };
    check_simulation(changes, &steps, dir).map_err(|d| match dir {
        Direction::Apply => format!(
            "the transaction changed since the plan ({d}); nothing was changed: plan again"
        ),
        Direction::Rollback => format!(
            "the rollback would not restore exactly the state before the deployment ({d}); nothing was changed: restore it by hand or with the snapshot hook"
        ),
    })
}

/// apt's simulation of a recorded transaction, read.
async fn deb_steps(
    host: &HostRecord,
    changes: &[Change],
    dir: Direction,
    what: &str,
    ssh: &SshOptions,
) -> std::result::Result<Vec<Step>, String> {
    let conn = connect(host, ssh).await.map_err(|e| e.to_string())?;
    let cmd = pkg::render(&deb::simulate(
        &wants(changes, dir),
        dir == Direction::Rollback,
    ));
    let out = conn.run(&cmd, None).await;
    conn.close().await;
    let out = out.map_err(|e| e.to_string())?;
    if out.exit_status != Some(0) {
        let e: String = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("E:"))
            .take(2)
            .collect::<Vec<_>>()
            .join(" / ")
            .chars()
            .take(300)
            .collect();
        return Err(format!(
            "apt cannot {what} exactly the planned transaction ({e}); nothing was changed"
        ));
    }
    deb::parse_simulation(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| format!("cannot read what apt would do ({e}); nothing was changed"))
}

/// How often a busy package lock is looked at again.
pub(super) const LOCK_POLL: std::time::Duration = std::time::Duration::from_secs(3);

/// The configured wait for a busy package lock (Settings: dpkg lock wait, for every family).
pub(super) fn lock_wait(inv: &Inventory) -> std::time::Duration {
    std::time::Duration::from_secs(
        crate::settings::Settings::load(inv)
            .map(|s| s.dpkg_lock_wait_secs)
            .unwrap_or(600),
    )
}

/// Wait, visibly, until no package-manager process holds the family's lock on a host (a run cut
/// off from PatchDesk may still be configuring packages there): the wait and the holder are in
/// the host's status note and the progress, up to the configured lock wait.
pub(super) async fn wait_for_lock(
    db: &Db<'_>,
    id: i64,
    host: &HostRecord,
    fam: Family,
    conn: &Session,
    progress: &ProgressFn,
) -> std::result::Result<(), String> {
    let tool = words(fam).tool;
    let max = db.with(|inv| lock_wait(inv));
    let started = std::time::Instant::now();
    let mut waited_before = false;
    loop {
        let holders = match fam {
            Family::Deb => {
                let out = conn
                    .run("sh -s", Some(deb::LOCK_HOLDERS.as_bytes()))
                    .await
                    .map_err(|e| format!("cannot tell whether {tool} is running: {e}"))?;
                deb::parse_holders(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
                    format!("cannot tell whether {tool} is running (the lock check did not finish)")
                })?
            }
            Family::Rpm => {
                let out = conn
                    .run("sh -s", Some(pkg::rpm::scan::LOCK_PROBE.as_bytes()))
                    .await
                    .map_err(|e| format!("cannot tell whether {tool} is running: {e}"))?;
                if out.exit_status != Some(0) {
                    return Err(format!(
                        "cannot tell whether {tool} is running (the lock check did not finish)"
                    ));
                }
                rpm_parse::parse_lock_probe(&String::from_utf8_lossy(&out.stdout))
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            }
        };
        if holders.is_empty() {
            if waited_before {
                db.with(|inv| super::set_note(inv, id, host, None))
                    .map_err(|e| e.to_string())?;
            }
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= max {
            db.with(|inv| super::set_note(inv, id, host, None))
                .map_err(|e| e.to_string())?;
            return Err(format!(
                "{tool} is still running after {} s ({} holds the {tool} lock): let it finish, then resume",
                waited.as_secs(),
                holders.join(", ")
            ));
        }
        let msg = format!(
            "waiting for {tool} to finish ({} holds the {tool} lock), {} s so far",
            holders.join(", "),
            waited.as_secs()
        );
        super::emit(progress, Some(&host.spec.name), Phase::Running, msg.clone());
        db.with(|inv| super::set_note(inv, id, host, Some(&msg)))
            .map_err(|e| e.to_string())?;
        waited_before = true;
        tokio::time::sleep(LOCK_POLL).await;
    }
}

/// The interrupted-transaction check on a host whose apply was cut off: `None` when the package
/// database is clean, otherwise the whole message for the user (what is wrong, how to repair).
pub(super) async fn interrupted(conn: &Session, host: &HostRecord, fam: Family) -> Option<String> {
    let problem = match fam {
        Family::Deb => {
            let cmd = format!("{}{}", sudo(host), pkg::render(&deb::audit()));
            match conn.run(&cmd, None).await {
                Ok(o)
                    if o.exit_status == Some(0) && o.stdout.iter().all(u8::is_ascii_whitespace) =>
                {
                    return None
                }
                Ok(o) => String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("exit status not 0")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(160)
                    .collect::<String>(),
                Err(e) => e.to_string(),
            }
        }
        Family::Rpm => {
            let cmd = format!("{}{} </dev/null", sudo(host), pkg::render(&rpm_tx::check()));
            match conn.run(&cmd, None).await {
                Ok(o)
                    if o.exit_status == Some(0) && o.stdout.iter().all(u8::is_ascii_whitespace) =>
                {
                    return None
                }
                Ok(o) => {
                    let text = format!(
                        "{}\n{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    );
                    let first = text
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .unwrap_or("exit status not 0")
                        .to_string();
                    return Some(format!(
                        "dnf check reports problems ({}): repair it (`dnf check`, then `dnf remove --duplicates` or `dnf distro-sync`), then resume",
                        crate::text::clean(&first).chars().take(160).collect::<String>()
                    ));
                }
                Err(e) => e.to_string(),
            }
        }
    };
    Some(format!(
        "{} reports packages left half-installed ({problem}): repair it (`dpkg --configure -a`), then resume",
        words(fam).check
    ))
}

/// The versions a host has now of a transaction's packages (absent: not installed).
pub(super) async fn installed(
    conn: &Session,
    fam: Family,
    changes: &[Change],
) -> std::result::Result<BTreeMap<String, String>, String> {
    match fam {
        Family::Deb => {
            let names: Vec<&str> = changes.iter().map(|c| c.package.as_str()).collect();
            conn.run(&deb::query(&names), None)
                .await
                .map(|o| deb::parse_installed(&String::from_utf8_lossy(&o.stdout)))
                .map_err(|e| e.to_string())
        }
        Family::Rpm => {
            let names: Vec<&str> = changes.iter().map(|c| c.package.as_str()).collect();
            conn.run(&rpm_tx::query(&names), None)
                .await
                .map(|o| {
                    rpm_tx::parse_query(&String::from_utf8_lossy(&o.stdout))
                        .into_iter()
                        .map(|(n, e)| (n, e.normalized()))
                        .collect()
                })
                .map_err(|e| e.to_string())
        }
    }
}

/// Held at its version by the family's own mechanism, by the last scan (dpkg's `h` selection;
/// an rpm version lock is stored the same way).
pub(super) fn is_held(p: &crate::facts::Package) -> bool {
    deb::is_held(&p.status)
}

fn as_root(host: &HostRecord, argv: pkg::Argv) -> pkg::Argv {
    if sudo(host).is_empty() {
        argv
    } else {
        ["sudo", "-n"]
            .iter()
            .map(|s| s.to_string())
            .chain(argv)
            .collect()
    }
}

/// Run as root: with `sudo -n` for a host whose user is not root; `None`: the caller runs the
/// command as root itself (the Ansible export, with `become`).
fn root_for(host: Option<&HostRecord>, argv: pkg::Argv) -> pkg::Argv {
    match host {
        Some(h) => as_root(h, argv),
        None => argv,
    }
}

/// The commands that hold packages at exact versions, in order. Debian: `apt-mark hold`
/// (dpkg's selection, seen by every apt front-end and by the next scan as `h`) plus an apt
/// preferences stanza at priority 1001, so even an explicit upgrade keeps the version. rpm:
/// `dnf versionlock add NAME-EVR` (dnf-plugins-core's lock, seen by every dnf and by the next
/// scan as `hi`). Names and versions were validated at plan time, and are again.
pub(super) fn pin_commands(
    host: Option<&HostRecord>,
    id: i64,
    fam: Family,
    pins: &[(String, String)],
) -> std::result::Result<Vec<String>, String> {
    match fam {
        Family::Deb => {
            let names: Vec<&str> = pins.iter().map(|(p, _)| p.as_str()).collect();
            let write = root_for(host, vec!["tee".into(), deb::pin_file(id)]);
            Ok(vec![
                pkg::render(&root_for(host, deb::hold(&names))),
                format!(
                    "{} | {} >/dev/null",
                    pkg::render(&["printf".into(), "%s".into(), deb::pin_stanzas(pins)]),
                    pkg::render(&write)
                ),
            ])
        }
        Family::Rpm => {
            let changes: Vec<Change> = pins
                .iter()
                .map(|(p, v)| Change {
                    host: String::new(),
                    package: p.clone(),
                    kind: ChangeKind::Upgrade,
                    from_version: Some(v.clone()),
                    to_version: None,
                    requested: true,
                    was_auto: false,
                    rollback_ok: true,
                    rollback: String::new(),
                })
                .collect();
            let targets = rpm_targets(changes.iter(), Direction::Rollback)?;
            let add = pkg::rpm::commands::versionlock_add(&targets).map_err(|e| e.to_string())?;
            Ok(vec![pkg::render(&root_for(host, add))])
        }
    }
}

/// The commands that lift what [`pin_commands`] set.
pub(super) fn unpin_commands(
    host: Option<&HostRecord>,
    id: i64,
    fam: Family,
    packages: &[String],
) -> std::result::Result<Vec<String>, String> {
    let names: Vec<&str> = packages.iter().map(String::as_str).collect();
    match fam {
        Family::Deb => Ok(vec![pkg::render_all(&[
            root_for(host, deb::unhold(&names)),
            root_for(host, vec!["rm".into(), "-f".into(), deb::pin_file(id)]),
        ])]),
        Family::Rpm => {
            let del = pkg::rpm::commands::versionlock_delete(&names).map_err(|e| e.to_string())?;
            Ok(vec![pkg::render(&root_for(host, del))])
        }
    }
}

/// Hold packages at exact versions on a host ([`pin_commands`]), each command audited.
pub(super) async fn pin(
    db: &Db<'_>,
    id: i64,
    host: &HostRecord,
    fam: Family,
    pins: &[(String, String)],
    ssh: &SshOptions,
) -> std::result::Result<(), String> {
    for cmd in pin_commands(Some(host), id, fam, pins)? {
        run_audited(db, host, "pin", &cmd, ssh).await?;
    }
    Ok(())
}

/// Lift what [`pin`] set ([`unpin_commands`]), audited.
pub(super) async fn unpin(
    db: &Db<'_>,
    id: i64,
    host: &HostRecord,
    fam: Family,
    packages: &[String],
    ssh: &SshOptions,
) -> std::result::Result<(), String> {
    for cmd in unpin_commands(Some(host), id, fam, packages)? {
        run_audited(db, host, "unpin", &cmd, ssh).await?;
    }
    Ok(())
}

/// The id of the last dnf transaction on an rpm host, written to the audit log after a change
/// (`dnf history info last`): what `dnf history undo` / `info` take. A host that cannot say gets
/// a note saying so.
async fn record_history(db: &Db<'_>, host: &HostRecord, action: &str, ssh: &SshOptions) {
    let id = match connect(host, ssh).await {
        Ok(conn) => {
            let out = conn.run(pkg::rpm::scan::HISTORY_LAST, None).await;
            conn.close().await;
            out.ok()
                .and_then(|o| rpm_parse::parse_history_last_id(&String::from_utf8_lossy(&o.stdout)))
        }
        Err(_) => None,
    };
    let detail = match id {
        Some(n) => format!("dnf history id {n}"),
        None => "dnf history id unknown (dnf history info last did not answer)".into(),
    };
    if let Err(e) = db.with(|inv| {
        inv.audit(
            "patchdesk",
            Some(&host.spec.name),
            action,
            "note",
            Some(pkg::rpm::scan::HISTORY_LAST),
            None,
            None,
            Some(&detail),
        )
    }) {
        tracing::warn!("audit log: the dnf history id was not written: {e}");
    }
}

/// Run a changing package command, waiting for a busy package lock *visibly*: the package
/// manager itself is told not to wait (apt: `DPkg::Lock::Timeout=0`, so it changes nothing and
/// exits at once), and PatchDesk tries again every few seconds up to the configured wait, with
/// the wait and the holder in the host's status note. (apt's own timeout would wait silently:
/// its message only arrives when the command ends.)
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_change(
    db: &Db<'_>,
    id: i64,
    host: &HostRecord,
    fam: Family,
    action: &str,
    command: &str,
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> std::result::Result<(), ChangeError> {
    let tool = words(fam).tool;
    let (max, timeout) = db.with(|inv| (lock_wait(inv), apply_timeout(inv)));
    // An apply or a rollback gets its own, long timeout: cut mid-transaction it would leave the
    // host half-upgraded.
    let ssh = SshOptions {
        command_timeout: timeout,
        ..ssh.clone()
    };
    let started = std::time::Instant::now();
    loop {
        let res = run_audited(db, host, action, command, &ssh).await;
        db.with(|inv| super::set_note(inv, id, host, None))
            .map_err(|e| e.to_string())?;
        let holder = match res {
            Err(ChangeError::Locked { holder, .. }) => holder,
            other => {
                if fam == Family::Rpm && !matches!(other, Err(ChangeError::Failed(_))) {
                    // Done, or cut by its timeout: either way dnf may have written a transaction.
                    record_history(db, host, action, &ssh).await;
                }
                return other;
            }
        };
        let waited = started.elapsed();
        if waited >= max {
            let message = match fam {
                Family::Deb => format!(
                    "the dpkg lock stayed busy for {} s ({holder}); nothing was changed: find what holds it (unattended-upgrades, another apt) and resume",
                    waited.as_secs()
                ),
                Family::Rpm => format!(
                    "the rpm database lock stayed busy for {} s ({holder}); nothing was changed: find what holds it (dnf-automatic, another dnf) and resume",
                    waited.as_secs()
                ),
            };
            return Err(ChangeError::Locked { holder, message });
        }
        let msg = format!(
            "waiting for the {tool} lock ({holder}), {} s so far",
            waited.as_secs()
        );
        super::emit(progress, Some(&host.spec.name), Phase::Running, msg.clone());
        db.with(|inv| super::set_note(inv, id, host, Some(&msg)))
            .map_err(|e| e.to_string())?;
        tokio::time::sleep(LOCK_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(p: &str, from: Option<&str>, to: Option<&str>, auto: bool) -> Change {
        let (from, to) = (from.map(String::from), to.map(String::from));
        Change {
            host: "h".into(),
            package: p.into(),
            kind: Change::kind_of(&from, &to),
            from_version: from,
            to_version: to,
            requested: false,
            was_auto: auto,
            rollback_ok: true,
            rollback: String::new(),
        }
    }

    fn rec(user: &str) -> HostRecord {
        let mut spec = crate::host::HostSpec::new("a", "127.0.0.1");
        spec.user = user.into();
        HostRecord {
            id: 1,
            spec,
            host_key: None,
            host_key_fingerprint: None,
            host_key_source: None,
        }
    }

    /// The Debian commands are what they were before the seam (the fleet tests read them in the
    /// audit log).
    #[test]
    fn debian_changes_as_before() {
        let t = [
            ch("pd-daemon", Some("1.0-1"), Some("1.2-1"), false),
            ch("pd-libbar1", None, Some("1.0-1"), false),
            ch("pd-agent", Some("2.0~rc1-1"), None, false),
        ];
        assert_eq!(
            describe(Family::Deb, &t, Direction::Apply),
            "pd-daemon=1.2-1 pd-libbar1=1.0-1 pd-agent-"
        );
        assert_eq!(
            describe(Family::Deb, &t, Direction::Rollback),
            "pd-daemon=1.0-1 pd-libbar1- pd-agent=2.0~rc1-1"
        );
        let root = rec("root");
        let apply = change_command(&root, Family::Deb, &t, Direction::Apply).unwrap();
        assert!(
            !apply.contains("--no-remove"),
            "it removes pd-agent: {apply}"
        );
        assert!(
            apply.contains("&& apt-mark auto pd-libbar1 >/dev/null"),
            "{apply}"
        );
        let back = change_command(&root, Family::Deb, &t, Direction::Rollback).unwrap();
        assert!(back.contains("--allow-downgrades --purge"), "{back}");
        assert!(!back.contains("apt-mark"), "{back}");
        let only_up = [ch("pd-hello", Some("1.0-1"), Some("1:2.0~rc1-1"), true)];
        let c = change_command(&rec("ops"), Family::Deb, &only_up, Direction::Apply).unwrap();
        assert!(c.starts_with("sudo -n sh -c "), "{c}");
        assert!(c.contains("--no-remove"), "{c}");
        assert_eq!(
            as_root(&rec("ops"), deb::hold(&["pd-tools"])),
            ["sudo", "-n", "apt-mark", "hold", "pd-tools"]
        );
    }
}
