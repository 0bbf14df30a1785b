//! Rollback of a deployment's hosts along their recorded paths: the whole transaction back to
//! the exact state before the deployment (downgrades, purges of what the upgrade installed,
//! reinstalls of what it removed), or the group's snapshot hook; verified by a rescan.

use super::manager::{self, is_held};
use super::transaction::base_name;
use super::*;

/// Roll back the hosts of a deployment that received the update (or only `only`): the whole
/// recorded transaction back to the exact previous versions, then verify by a rescan. Hosts
/// excluded from the deployment are skipped unless named. Holds the deployment's lease.
pub async fn rollback(
    inv: &mut Inventory,
    id: i64,
    only: &[String],
    who: &str,
    ssh: &SshOptions,
    on_busy: OnBusy,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let _lease =
        super::lease::acquire(inv, id, Operation::Rollback, who, on_busy, &progress).await?;
    rollback_held(inv, id, only, ssh, progress).await
}

/// [`rollback`] under a lease already held. Each host's rollback (the check, the change, the
/// pin, the verifying rescan) runs over one SSH connection.
pub(super) async fn rollback_held(
    inv: &mut Inventory,
    id: i64,
    only: &[String],
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let (ssh, pool) = super::parallel::step_ssh(ssh);
    let res = rollback_hosts(inv, id, only, &ssh, progress).await;
    super::parallel::end_step(pool, res).await
}

async fn rollback_hosts(
    inv: &mut Inventory,
    id: i64,
    only: &[String],
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let st = status(inv, id)?;
    let strict = transaction_planned(inv, id)?;
    let hook = snapshot_hook(inv, &scope_of(inv, id)?)?;
    let mut todo = Vec::new();
    for stage in &st.stages {
        for hs in &stage.hosts {
            if !only.is_empty() && !only.contains(&hs.host) {
                continue;
            }
            if only.is_empty() && hs.excluded.is_some() {
                continue;
            }
            if !hs.state.may_roll_back() {
                continue;
            }
            todo.push((inv.host(&hs.host)?, hs.state));
        }
    }
    // Every host's rollback at once, at most the scan concurrency (a slow host holds no other).
    let limit = super::parallel::limit(inv);
    let db = Db::new(inv);
    let done = super::parallel::each_host(todo, limit, |(host, state)| {
        let (db, hook, progress) = (&db, hook.as_ref(), &progress);
        async move { rollback_host(db, id, host, state, strict, hook, ssh, progress).await }
    })
    .await;
    let mut touched = Vec::new();
    for d in done {
        touched.extend(d?);
    }
    let names: Vec<String> = touched
        .iter()
        .map(|(h, _, _, _)| h.spec.name.clone())
        .collect();
    if !names.is_empty() {
        rescan(inv, &names, ssh).await?;
    }
    for (host, changes, pins, pinned) in &touched {
        let installed = installed_packages(inv, &host.spec.name)?;
        // Every package of the transaction exactly as before: downgraded, purged, reinstalled.
        let mut wrong: Vec<String> = changes
            .iter()
            .filter_map(|c| {
                let have = installed.get(base_name(&c.package)).map(|p| &p.version);
                (have != c.from_version.as_ref()).then(|| {
                    format!(
                        "{} is {}, was {}",
                        c.package,
                        have.map(String::as_str).unwrap_or("not installed"),
                        c.from_version.as_deref().unwrap_or("not installed")
                    )
                })
            })
            .collect();
        if *pinned {
            wrong.extend(
                pins.iter()
                    .filter(|(p, _)| !installed.get(base_name(p)).is_some_and(is_held))
                    .map(|(p, _)| format!("{p} is not held")),
            );
        }
        if wrong.is_empty() {
            set_host(inv, id, host, HostState::RolledBack, None)?;
            inv.conn().execute(
                "UPDATE deployment_hosts SET pinned = ?3 WHERE deployment_id = ?1 AND host_id = ?2",
                params![id, host.id, pinned],
            )?;
            emit(
                &progress,
                Some(&host.spec.name),
                Phase::Done,
                "rolled back, verified".into(),
            );
        } else {
            set_host(
                inv,
                id,
                host,
                HostState::Failed,
                Some(&format!(
                    "after rollback, not restored: {}",
                    wrong.join(", ")
                )),
            )?;
        }
    }
    let left: i64 = inv.conn().query_row(
        "SELECT count(*) FROM deployment_hosts WHERE deployment_id = ?1 AND excluded_reason IS NULL AND state IN (?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            HostState::Applied,
            HostState::Applying,
            HostState::Failed,
            HostState::Attention,
            HostState::RollingBack
        ],
        |r| r.get(0),
    )?;
    if left == 0 {
        inv.conn().execute(
            "UPDATE deployments SET state = ?3, updated_at = ?2 WHERE id = ?1",
            params![id, inv.clock().now(), DeploymentState::RolledBack],
        )?;
    }
    status(inv, id)
}

/// One host of [`rollback_held`]: its rollback run (not verified yet), or `None` when it failed
/// (the host is marked so).
#[allow(clippy::too_many_arguments)]
async fn rollback_host(
    db: &Db<'_>,
    id: i64,
    host: HostRecord,
    state: HostState,
    strict: bool,
    hook: Option<&SnapshotHook>,
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<Option<RolledHost>> {
    let name = host.spec.name.clone();
    let (changes, fam, kind) = db.with(|inv| -> Result<_> {
        let changes = changes_of(inv, id, &host)?;
        // Records cut off by a crash close before anything else runs on the host.
        if state == HostState::Attention {
            close_interrupted(
                inv,
                &host,
                "apply",
                "outcome not established: superseded by the rollback",
            )?;
        }
        if state == HostState::RollingBack {
            close_interrupted(
                inv,
                &host,
                "rollback",
                "established on resume: interrupted; the rollback runs again",
            )?;
        }
        let fam = manager::family(inv, &host)?;
        set_host(inv, id, &host, HostState::RollingBack, None)?;
        Ok((changes, fam, rollback_kind(inv, id, &host)?))
    })?;
    emit(
        progress,
        Some(&name),
        Phase::Running,
        format!(
            "rolling back to {}",
            manager::describe(fam, &changes, Direction::Rollback)
        ),
    );
    let pins: Vec<(String, String)> = changes
        .iter()
        .filter_map(|c| Some((c.package.clone(), c.from_version.clone()?)))
        .collect();
    let result = if kind == RollbackKind::Snapshot {
        match hook {
            Some(hook) => run_hook(db, &host, hook, "restore", ssh).await,
            None => {
                Err("the snapshot hook was removed since the plan; restore the host by hand".into())
            }
        }
    } else {
        let checked = if strict {
            manager::check_on_host(&host, fam, &changes, Direction::Rollback, ssh).await
        } else {
            Ok(())
        };
        match checked
            .and_then(|()| manager::change_command(&host, fam, &changes, Direction::Rollback))
        {
            Err(e) => Err(e),
            Ok(cmd) => {
                match manager::run_change(db, id, &host, fam, "rollback", &cmd, ssh, progress).await
                {
                    Ok(()) if kind == RollbackKind::Pin => {
                        manager::pin(db, id, &host, fam, &pins, ssh).await
                    }
                    other => other.map_err(String::from),
                }
            }
        }
    };
    match result {
        Ok(()) => Ok(Some((host, changes, pins, kind == RollbackKind::Pin))),
        Err(e) => {
            emit(progress, Some(&name), Phase::Failed, e.clone());
            db.with(|inv| {
                set_host(
                    inv,
                    id,
                    &host,
                    HostState::Failed,
                    Some(&format!("rollback failed: {e}")),
                )
            })?;
            Ok(None)
        }
    }
}

/// A host whose rollback ran: its transaction, its pins, whether it was pinned.
type RolledHost = (HostRecord, Vec<Change>, Vec<(String, String)>, bool);

/// Lift the pins a pin rollback left on a deployment's hosts (or only `only`), once the bad
/// version is fixed upstream; verified by a rescan. Holds the deployment's lease.
pub async fn unpin(
    inv: &mut Inventory,
    id: i64,
    only: &[String],
    who: &str,
    ssh: &SshOptions,
    on_busy: OnBusy,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let _lease = super::lease::acquire(inv, id, Operation::Unpin, who, on_busy, &progress).await?;
    // The unpin and the verifying rescan of a host: one connection.
    let (ssh, pool) = super::parallel::step_ssh(ssh);
    let res = unpin_hosts(inv, id, only, &ssh, progress).await;
    super::parallel::end_step(pool, res).await
}

async fn unpin_hosts(
    inv: &mut Inventory,
    id: i64,
    only: &[String],
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let pinned: Vec<String> = inv
        .conn()
        .prepare("SELECT h.name FROM deployment_hosts d JOIN hosts h ON h.id = d.host_id WHERE d.deployment_id = ?1 AND d.pinned = 1 ORDER BY h.name")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let pinned: Vec<String> = pinned
        .into_iter()
        .filter(|h| only.is_empty() || only.contains(h))
        .collect();
    if pinned.is_empty() {
        return Err(Error::Invalid(format!(
            "deployment {id} has no pinned host{}: nothing to unpin",
            if only.is_empty() {
                ""
            } else {
                " among those named"
            }
        )));
    }
    let mut done = Vec::new();
    for name in &pinned {
        let host = inv.host(name)?;
        let pkgs: Vec<String> = changes_of(inv, id, &host)?
            .into_iter()
            .filter(|c| c.from_version.is_some())
            .map(|c| c.package)
            .collect();
        emit(
            &progress,
            Some(name),
            Phase::Running,
            format!("unpinning {}", pkgs.join(" ")),
        );
        let fam = manager::family(inv, &host)?;
        match manager::unpin(&Db::new(inv), id, &host, fam, &pkgs, ssh).await {
            Ok(()) => done.push((host, pkgs)),
            Err(e) => emit(
                &progress,
                Some(name),
                Phase::Failed,
                format!("unpin failed: {e}"),
            ),
        }
    }
    let names: Vec<String> = done.iter().map(|(h, _)| h.spec.name.clone()).collect();
    if !names.is_empty() {
        rescan(inv, &names, ssh).await?;
    }
    for (host, pkgs) in &done {
        let installed = installed_packages(inv, &host.spec.name)?;
        if pkgs
            .iter()
            .all(|p| !installed.get(base_name(p)).is_some_and(is_held))
        {
            inv.conn().execute(
                "UPDATE deployment_hosts SET pinned = 0 WHERE deployment_id = ?1 AND host_id = ?2",
                params![id, host.id],
            )?;
            emit(
                &progress,
                Some(&host.spec.name),
                Phase::Done,
                "unpinned".into(),
            );
        }
    }
    status(inv, id)
}
