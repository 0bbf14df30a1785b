//! Running a deployment: the `advance` step function (apply → verify → soak → gate), the
//! resume of hosts cut off mid-apply, the gate decisions (go, go over a no-go only with a written
//! reason, no-go) and excluding a host. Reads and writes only the deployment tables; host work
//! goes through `remote`.

use super::manager::{self, check_on_host};
use super::transaction::not_at;
use super::*;

/// Advance a deployment as far as it can go now: apply, verify, soak, gate. Returns when it must
/// wait (soak time, a manual gate, a host still in attention at the end) or is finished or
/// halted. Safe to call again at any time. Holds the deployment's lease while it runs: refused
/// (or, with [`OnBusy::Wait`], waiting) while another process changes it.
pub async fn advance(
    inv: &mut Inventory,
    id: i64,
    who: &str,
    ssh: &SshOptions,
    on_busy: OnBusy,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let _lease = lease::acquire(inv, id, Operation::Advance, who, on_busy, &progress).await?;
    advance_held(inv, id, ssh, progress).await
}

/// [`advance`] under a lease already held. Each host's part of the steps taken (the apply, its
/// verification and health, a rollback on an automatic no-go) runs over one SSH connection.
pub(super) async fn advance_held(
    inv: &mut Inventory,
    id: i64,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let (ssh, pool) = super::parallel::step_ssh(ssh);
    let res = advance_steps(inv, id, &ssh, progress).await;
    super::parallel::end_step(pool, res).await
}

async fn advance_steps(
    inv: &mut Inventory,
    id: i64,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    recheck_unresolved(inv, id, ssh, &progress).await?;
    let mut remeasured = false;
    loop {
        let st = stored_status(inv, id)?;
        if !st.state.is_active() {
            return status(inv, id);
        }
        if st.state == DeploymentState::Planned {
            inv.conn().execute(
                "UPDATE deployments SET state = ?3, updated_at = ?2 WHERE id = ?1",
                params![id, inv.clock().now(), DeploymentState::Running],
            )?;
        }
        let Some(stage) = st.stages.get(st.current_stage as usize) else {
            if finish_if_done(inv, id)? {
                emit(
                    &progress,
                    None,
                    Phase::Done,
                    format!("deployment {id} finished"),
                );
            }
            // Otherwise a host is still in attention: it blocks the end until it is repaired
            // or excluded (the status says which, and how).
            return status(inv, id);
        };
        let idx = stage.idx;
        let smoke: Vec<String> = inv
            .conn()
            .query_row(
                "SELECT smoke_commands FROM deployments WHERE id = ?1",
                [id],
                |r| r.get::<_, String>(0),
            )
            .map(|j| serde_json::from_str(&j).unwrap_or_default())?;
        match stage.state {
            StageState::Pending => {
                let hosts: Vec<HostRecord> = stage_hosts(inv, id, idx)?
                    .into_iter()
                    .filter(|h| !h.excluded)
                    .map(|h| h.host)
                    .collect();
                if super::window::closed_window(inv, &hosts)?.is_some() {
                    // Outside the maintenance window: nothing changes until it opens.
                    return status(inv, id);
                }
                if !apply_stage(inv, id, idx, &smoke, ssh, &progress).await? {
                    // An apply was cut by its timeout: stop here; the next run checks that
                    // host with dpkg --audit before anything else happens to it.
                    return status(inv, id);
                }
            }
            StageState::Applied => verify_stage(inv, id, idx, &smoke, ssh, &progress).await?,
            StageState::Soaking => {
                let until = stage.soak_until.unwrap_or_else(|| inv.clock().now());
                if inv.clock().now() < until {
                    return status(inv, id);
                }
                // End of soak: measure again before the gate.
                verify_stage(inv, id, idx, &smoke, ssh, &progress).await?;
            }
            StageState::Gate => match (st.mode, verdict(&stage.reasons)) {
                // Paused on missing evidence: measure again once per run (the monitoring may
                // answer now); still inconclusive, it waits and says why.
                (_, GateVerdict::Inconclusive) if !remeasured => {
                    remeasured = true;
                    verify_stage(inv, id, idx, &smoke, ssh, &progress).await?;
                }
                (_, GateVerdict::Inconclusive) => return status(inv, id),
                (Mode::Auto, GateVerdict::Go) => decide(inv, id, Decision::Go, "auto")?,
                (Mode::Auto, GateVerdict::NoGo) => {
                    let why: Vec<String> = stage
                        .reasons
                        .iter()
                        .filter(|r| r.is_no_go())
                        .map(ToString::to_string)
                        .collect();
                    let why =
                        crate::text::clip(&format!("the engine's no-go: {}", why.join("; ")), 600);
                    return no_go_held(inv, id, "auto", &why, ssh, progress).await;
                }
                (Mode::Manual, _) => return status(inv, id),
            },
            StageState::Done => {
                inv.conn().execute("UPDATE deployments SET current_stage = current_stage + 1, updated_at = ?2 WHERE id = ?1", params![id, inv.clock().now()])?;
            }
            StageState::Failed => return status(inv, id),
        }
    }
}

/// Past the last stage with no host left unresolved (in attention, or caught applying) unless
/// excluded: the deployment is finished. Returns whether it is.
fn finish_if_done(inv: &Inventory, id: i64) -> Result<bool> {
    let n = inv.conn().execute(
        "UPDATE deployments SET state = ?3, updated_at = ?2
         WHERE id = ?1 AND state = ?4
           AND current_stage >= (SELECT count(*) FROM deployment_stages WHERE deployment_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM deployment_hosts WHERE deployment_id = ?1
                             AND state IN (?5, ?6) AND excluded_reason IS NULL)",
        params![
            id,
            inv.clock().now(),
            DeploymentState::Finished,
            DeploymentState::Running,
            HostState::Attention,
            HostState::Applying
        ],
    )?;
    Ok(n == 1)
}

/// Hosts left in attention (or caught applying) in stages already past their apply are checked
/// again on every advance: a repaired host is verified and counts as applied again.
async fn recheck_unresolved(
    inv: &mut Inventory,
    id: i64,
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<()> {
    let st = stored_status(inv, id)?;
    if st.state != DeploymentState::Running {
        return Ok(());
    }
    let mut todo = Vec::new();
    for stage in st.stages.iter().filter(|s| s.state != StageState::Pending) {
        for h in &stage.hosts {
            if h.excluded.is_some() || !h.state.is_unresolved() {
                continue;
            }
            todo.push((inv.host(&h.host)?, h.state, h.error.clone()));
        }
    }
    let limit = super::parallel::limit(inv);
    let db = Db::new(inv);
    let done =
        super::parallel::each_host(todo, limit, |(host, state, error)| {
            let db = &db;
            async move {
                resume_host(db, id, &host, state, error.as_deref(), false, ssh, progress).await
            }
        })
        .await;
    for r in done {
        r?;
    }
    Ok(())
}

/// What the resume found on a host cut off mid-apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resumed {
    /// Every package of the transaction is at its planned version and dpkg is clean.
    Completed,
    /// dpkg is clean but the transaction did not complete: apply it again (within its stage).
    NotCompleted,
    /// Still in attention: dpkg broken, still running past the wait, or the host unreachable.
    Unresolved,
}

/// Establish the outcome of an apply cut off by a crash: wait (visibly) until no dpkg/apt
/// process holds the lock there, then `dpkg --audit`, then the versions of the whole
/// transaction; close the open audit record with the outcome.
#[allow(clippy::too_many_arguments)]
async fn resume_host(
    db: &Db<'_>,
    id: i64,
    host: &HostRecord,
    prior_state: HostState,
    prior_error: Option<&str>,
    may_reapply: bool,
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<Resumed> {
    let name = host.spec.name.clone();
    let fam = db.with(|inv| manager::family(inv, host))?;
    let w = manager::words(fam);
    if prior_state == HostState::Applying {
        db.with(|inv| {
            set_host(
                inv,
                id,
                host,
                HostState::Attention,
                Some(&format!(
                    "interrupted while applying: checking it (waiting for {}, then {})",
                    w.tool, w.check
                )),
            )
        })?;
    }
    emit(
        progress,
        Some(&name),
        Phase::Running,
        format!(
            "interrupted mid-apply: waiting for {} to finish, then {}",
            w.tool, w.check
        ),
    );
    let changes = db.with(|inv| changes_of(inv, id, host))?;
    let conn = match connect(host, ssh).await {
        Ok(c) => c,
        Err(e) => {
            db.with(|inv| {
                set_host(
                    inv,
                    id,
                    host,
                    HostState::Attention,
                    Some(&format!(
                    "the interrupted apply cannot be checked ({e}); resume once it is reachable"
                )),
                )
            })?;
            return Ok(Resumed::Unresolved);
        }
    };
    if let Err(e) = manager::wait_for_lock(db, id, host, fam, &conn, progress).await {
        conn.close().await;
        emit(progress, Some(&name), Phase::Failed, e.clone());
        db.with(|inv| set_host(inv, id, host, HostState::Attention, Some(&e)))?;
        return Ok(Resumed::Unresolved);
    }
    let audit_problem = manager::interrupted(&conn, host, fam).await;
    let have = manager::installed(&conn, fam, &changes).await;
    conn.close().await;
    let have = match (audit_problem, have) {
        (Some(msg), _) => {
            emit(progress, Some(&name), Phase::Failed, msg.clone());
            db.with(|inv| set_host(inv, id, host, HostState::Attention, Some(&msg)))?;
            return Ok(Resumed::Unresolved);
        }
        (None, Err(e)) => {
            db.with(|inv| {
                set_host(
                    inv,
                    id,
                    host,
                    HostState::Attention,
                    Some(&format!(
                        "the interrupted apply cannot be checked ({e}); resume"
                    )),
                )
            })?;
            return Ok(Resumed::Unresolved);
        }
        (None, Ok(h)) => h,
    };
    let missing = not_at(&changes, &have, Direction::Apply);
    if missing.is_empty() {
        let repaired = prior_error.is_some_and(|e| e.starts_with(w.check_failed));
        let outcome = if repaired { "repaired" } else { "completed" };
        db.with(|inv| close_interrupted(
            inv,
            host,
            "apply",
            &format!("established on resume: {outcome} ({} clean; every package of the transaction at its planned version)", w.check),
        ))?;
        emit(
            progress,
            Some(&name),
            Phase::Done,
            format!("the interrupted apply had {outcome}: verified, not repeated"),
        );
        db.with(|inv| set_host(inv, id, host, HostState::Applied, None))?;
        return Ok(Resumed::Completed);
    }
    let missing = missing.join(", ");
    db.with(|inv| close_interrupted(
        inv,
        host,
        "apply",
        &format!("established on resume: failed (the interrupted apply did not complete: {missing}; {} clean)", w.check),
    ))?;
    if may_reapply {
        emit(
            progress,
            Some(&name),
            Phase::Running,
            format!("the interrupted apply did not complete ({missing}): applying again"),
        );
        return Ok(Resumed::NotCompleted);
    }
    let msg = format!(
        "the interrupted apply did not complete ({missing}): roll it back, or exclude it with a reason"
    );
    emit(progress, Some(&name), Phase::Failed, msg.clone());
    db.with(|inv| set_host(inv, id, host, HostState::Failed, Some(&msg)))?;
    Ok(Resumed::Unresolved)
}

/// Apply a stage's hosts, at most the scan concurrency at once (each host's check, baseline,
/// snapshot, apply and reboot in its own worker, so a slow or failing host holds no other).
/// `false` when an apply was cut by its timeout (the stage stays pending).
async fn apply_stage(
    inv: &mut Inventory,
    id: i64,
    idx: i64,
    smoke: &[String],
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<bool> {
    let now = inv.clock().now();
    inv.conn().execute("UPDATE deployment_stages SET started_at = coalesce(started_at, ?3) WHERE deployment_id = ?1 AND idx = ?2", params![id, idx, now])?;
    let strict = transaction_planned(inv, id)?;
    let hook = snapshot_hook(inv, &scope_of(inv, id)?)?;
    let hosts: Vec<StageHost> = stage_hosts(inv, id, idx)?
        .into_iter()
        .filter(|h| !h.excluded)
        .collect();
    let limit = super::parallel::limit(inv);
    let db = Db::new(inv);
    let outcomes = super::parallel::each_host(hosts, limit, |sh| {
        let (db, hook) = (&db, hook.as_ref());
        async move { apply_host(db, id, idx, sh, strict, hook, smoke, ssh, progress).await }
    })
    .await;
    let mut cut = false;
    for o in outcomes {
        cut |= o?;
    }
    if cut {
        return Ok(false);
    }
    inv.conn().execute(
        "UPDATE deployment_stages SET state = ?4, applied_at = ?3 WHERE deployment_id = ?1 AND idx = ?2",
        params![id, idx, inv.clock().now(), StageState::Applied],
    )?;
    Ok(true)
}

/// Measure the current stage again (after a reboot at its gate): its verdict is recomputed and
/// its state kept.
pub(super) async fn verify_current(
    inv: &mut Inventory,
    id: i64,
    idx: i64,
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<()> {
    let smoke: Vec<String> = inv
        .conn()
        .query_row(
            "SELECT smoke_commands FROM deployments WHERE id = ?1",
            [id],
            |r| r.get::<_, String>(0),
        )
        .map(|j| serde_json::from_str(&j).unwrap_or_default())?;
    verify_stage(inv, id, idx, &smoke, ssh, progress).await
}

/// One host of [`apply_stage`]. `true` when its apply was cut by its timeout.
#[allow(clippy::too_many_arguments)]
async fn apply_host(
    db: &Db<'_>,
    id: i64,
    idx: i64,
    sh: StageHost,
    strict: bool,
    hook: Option<&SnapshotHook>,
    smoke: &[String],
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<bool> {
    let host = sh.host;
    let name = host.spec.name.clone();
    match sh.state {
        HostState::Applied | HostState::Failed | HostState::RollingBack | HostState::RolledBack => {
            return Ok(false)
        }
        HostState::Applying | HostState::Attention => {
            // Interrupted mid-apply (crash, kill, host dropped): establish what happened first.
            let prior_error: Option<String> = db.with(|inv| {
                inv.conn().query_row(
                    "SELECT error FROM deployment_hosts WHERE deployment_id = ?1 AND host_id = ?2",
                    params![id, host.id],
                    |r| r.get(0),
                )
            })?;
            match resume_host(
                db,
                id,
                &host,
                sh.state,
                prior_error.as_deref(),
                true,
                ssh,
                progress,
            )
            .await?
            {
                Resumed::Completed | Resumed::Unresolved => return Ok(false),
                Resumed::NotCompleted => {}
            }
        }
        HostState::Pending => {}
    }
    let (changes, fam) = db.with(|inv| -> Result<_> {
        Ok((changes_of(inv, id, &host)?, manager::family(inv, &host)?))
    })?;
    if changes.is_empty() {
        let msg = "its apt transaction was not planned (the host could not be checked at plan time); nothing was applied: plan again once it is reachable";
        emit(progress, Some(&name), Phase::Failed, msg.into());
        db.with(|inv| set_host(inv, id, &host, HostState::Failed, Some(msg)))?;
        return Ok(false);
    }
    if strict {
        // The package manager must be about to do exactly the planned transaction, nothing
        // it chooses itself.
        if let Err(e) = check_on_host(&host, fam, &changes, Direction::Apply, ssh).await {
            emit(progress, Some(&name), Phase::Failed, e.clone());
            db.with(|inv| set_host(inv, id, &host, HostState::Failed, Some(&e)))?;
            return Ok(false);
        }
    }
    emit(
        progress,
        Some(&name),
        Phase::Running,
        "measuring the baseline".into(),
    );
    let baseline = health(&host, smoke, ssh).await;
    db.with(|inv| {
        inv.conn().execute(
            "UPDATE deployment_hosts SET baseline = coalesce(baseline, ?3) WHERE deployment_id = ?1 AND host_id = ?2",
            params![id, host.id, serde_json::to_string(&baseline).unwrap_or_default()],
        )
    })?;
    super::checks::take_baseline(db, id, idx, &host, ssh).await?;
    if let Some(hook) = hook {
        emit(
            progress,
            Some(&name),
            Phase::Running,
            "taking a snapshot".into(),
        );
        if let Err(e) = run_hook(db, &host, hook, "snapshot", ssh).await {
            let msg = format!("{e}; nothing was applied");
            emit(progress, Some(&name), Phase::Failed, msg.clone());
            db.with(|inv| set_host(inv, id, &host, HostState::Failed, Some(&msg)))?;
            return Ok(false);
        }
    }
    db.with(|inv| set_host(inv, id, &host, HostState::Applying, None))?;
    emit(
        progress,
        Some(&name),
        Phase::Running,
        format!(
            "applying {}",
            manager::describe(fam, &changes, Direction::Apply)
        ),
    );
    let res = match manager::change_command(&host, fam, &changes, Direction::Apply) {
        Ok(cmd) => manager::run_change(db, id, &host, fam, "apply", &cmd, ssh, progress).await,
        Err(e) => Err(ChangeError::Failed(e)),
    };
    match res {
        Ok(()) => {
            db.with(|inv| set_host(inv, id, &host, HostState::Applied, None))?;
            super::reboot::in_stage(db, id, &host, ssh, progress).await?;
            Ok(false)
        }
        Err(ChangeError::TimedOut(e)) => {
            // Cut mid-apply: the package manager may be half-way. Not "failed": the resume
            // checks it (dpkg --audit) first.
            let msg = format!("{e}; the apply was cut: run `patchdesk deploy start {id}` again to check the host with {} first", manager::words(fam).check);
            emit(progress, Some(&name), Phase::Failed, msg.clone());
            db.with(|inv| set_host(inv, id, &host, HostState::Attention, Some(&msg)))?;
            Ok(true)
        }
        Err(e @ (ChangeError::Failed(_) | ChangeError::Locked { .. })) => {
            let e = e.to_string();
            emit(progress, Some(&name), Phase::Failed, e.clone());
            db.with(|inv| set_host(inv, id, &host, HostState::Failed, Some(&e)))?;
            Ok(false)
        }
    }
}

async fn verify_stage(
    inv: &mut Inventory,
    id: i64,
    idx: i64,
    smoke: &[String],
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<()> {
    let hosts = stage_hosts(inv, id, idx)?;
    let names: Vec<String> = hosts
        .iter()
        .filter(|h| !h.excluded)
        .map(|h| h.host.spec.name.clone())
        .collect();
    rescan(inv, &names, ssh).await?;
    let planned = super::checks::planned_checks(inv, id)?;
    let settle = hosts
        .iter()
        .filter(|h| !h.excluded)
        .filter_map(|h| planned.for_host(&h.host.spec.groups))
        .map(|(c, _)| c.settle_secs)
        .max()
        .unwrap_or(0);
    if settle > 0 {
        // Let the monitoring scrape and evaluate the new version before it is asked.
        emit(
            progress,
            None,
            Phase::Running,
            format!("waiting {settle} s for the monitoring to see the stage"),
        );
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(settle))).await;
    }
    let limit = super::parallel::limit(inv);
    let db = Db::new(inv);
    let per_host = super::parallel::each_host(hosts, limit, |sh| {
        let db = &db;
        let planned = &planned;
        async move { verify_host(db, id, idx, sh, planned, smoke, ssh, progress).await }
    })
    .await;
    let mut reasons = Vec::new();
    for r in per_host {
        reasons.extend(r?);
    }
    let (stage_name, state, applied_at): (String, StageState, Option<DateTime<Utc>>) = inv.conn().query_row(
        "SELECT name, state, applied_at FROM deployment_stages WHERE deployment_id = ?1 AND idx = ?2",
        params![id, idx],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let soak: i64 = inv.conn().query_row(
        "SELECT canary_soak_secs FROM deployments WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;
    let healthy = verdict(&reasons) == GateVerdict::Go;
    // A healthy canary soaks before its gate; an unhealthy one goes to the gate at once.
    let next = if state == StageState::Applied && stage_name == "canary" && soak > 0 && healthy {
        StageState::Soaking
    } else {
        StageState::Gate
    };
    // Checked: past the end of the calendar the soak never ends (the gate waits for a person).
    let soak_until = applied_at
        .unwrap_or_else(|| inv.clock().now())
        .checked_add_signed(Duration::try_seconds(soak).unwrap_or(Duration::MAX))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    inv.conn().execute(
        "UPDATE deployment_stages SET state = ?3, soak_until = CASE WHEN ?6 THEN ?4 ELSE soak_until END, reasons = ?5 WHERE deployment_id = ?1 AND idx = ?2",
        params![id, idx, next, soak_until, serde_json::to_string(&reasons).unwrap_or_default(), next == StageState::Soaking],
    )?;
    Ok(())
}

/// One host of [`verify_stage`]: its gate reasons (its checklist and health stored).
#[allow(clippy::too_many_arguments)]
async fn verify_host(
    db: &Db<'_>,
    id: i64,
    idx: i64,
    sh: StageHost,
    planned: &super::checks::PlannedChecks,
    smoke: &[String],
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<Vec<GateReason>> {
    let mut reasons = Vec::new();
    let (host, state) = (&sh.host, sh.state);
    let reboot_policy = planned
        .for_host(&host.spec.groups)
        .map(|(c, _)| c.reboot)
        .unwrap_or_default();
    let name = &host.spec.name;
    if sh.excluded {
        reasons.push(GateReason::note(
            name,
            "excluded from the deployment: not checked",
        ));
        return Ok(reasons);
    }
    if state == HostState::Failed || state == HostState::Attention {
        let err: Option<String> = db.with(|inv| {
            inv.conn().query_row(
                "SELECT error FROM deployment_hosts WHERE deployment_id = ?1 AND host_id = ?2",
                params![id, host.id],
                |r| r.get(0),
            )
        })?;
        reasons.push(GateReason::no_go(
            name,
            err.unwrap_or_else(|| "failed".into()),
        ));
        return Ok(reasons);
    }
    // Patch level: every package of the transaction as planned (from the fresh scan).
    let (installed, changes) = db.with(|inv| -> Result<_> {
        Ok((installed_packages(inv, name)?, changes_of(inv, id, host)?))
    })?;
    let before_versions = reasons.len();
    let versions: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.package,
                c.to_version.as_deref().unwrap_or("removed")
            )
        })
        .collect();
    for c in changes {
        let have = installed
            .get(transaction::base_name(&c.package))
            .map(|p| p.version.as_str());
        match (&c.to_version, have) {
            (Some(v), Some(h)) if h == v => {}
            (Some(v), h) => reasons.push(GateReason::no_go(
                name,
                format!(
                    "{} {v} is not installed (has {})",
                    c.package,
                    h.unwrap_or("none")
                ),
            )),
            (None, None) => {}
            (None, Some(h)) => reasons.push(GateReason::no_go(
                name,
                format!(
                    "{} is still installed ({h}) although the transaction removes it",
                    c.package
                ),
            )),
        }
    }
    let version_problems: Vec<String> = reasons[before_versions..]
        .iter()
        .map(|r| r.message.clone())
        .collect();
    let after = health(host, smoke, ssh).await;
    let baseline: Health = db
        .with(|inv| {
            inv.conn().query_row(
                "SELECT baseline FROM deployment_hosts WHERE deployment_id = ?1 AND host_id = ?2",
                params![id, host.id],
                |r| r.get::<_, Option<String>>(0),
            )
        })?
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    if !after.reachable {
        reasons.push(GateReason::no_go(
            name,
            format!("not back: {}", after.error.clone().unwrap_or_default()),
        ));
    }
    for (cmd, status) in &after.smoke {
        if *status != 0 {
            reasons.push(GateReason::no_go(
                name,
                format!("smoke test `{cmd}` failed (exit {status})"),
            ));
        }
    }
    // Where systemd is missing the checklist says so ("not available on this host"); no
    // separate note repeats it.
    if let (Some(b), Some(a)) = (baseline.failed_units, after.failed_units) {
        if a > b {
            reasons.push(GateReason::no_go(
                name,
                format!("new failed systemd units ({b} → {a})"),
            ));
        }
    }
    if let (Some(b), Some(a)) = (baseline.journal_errors, after.journal_errors) {
        if a > b {
            reasons.push(GateReason::no_go(
                name,
                format!("new journal errors ({b} → {a})"),
            ));
        }
    }
    // The group's health checks, against their baseline: the checklist of the gate.
    let mut list = super::checks::builtin(&baseline, &after, &versions, &version_problems);
    let rebooted = db.with(|inv| super::reboot::reboot_result(inv, id, host))?;
    for c in list
        .iter_mut()
        .filter(|c| c.kind == super::CheckKind::Reboot)
    {
        match (&rebooted, after.reboot_required, reboot_policy) {
            (Some(w), false, _) => {
                c.status = super::CheckStatus::Passed;
                c.value = Some(format!("rebooted: {w}"));
                c.detail = None;
            }
            // The policy asks at the gate: the gate waits for the reboot (or a go with a
            // written reason to leave the host on its old kernel for now).
            (_, true, super::RebootPolicy::AskAtGate) => {
                c.status = super::CheckStatus::Inconclusive;
                c.detail = Some("needs a reboot: reboot it at this gate".into());
                reasons.push(GateReason::paused(
                    name,
                    "needs a reboot to run the update: reboot it at this gate",
                ));
            }
            (_, true, _) if !baseline.reboot_required => {
                reasons.push(GateReason::note(name, "now needs a reboot"));
            }
            _ => {}
        }
    }
    for r in super::checks::check_after(db, id, idx, host, ssh).await? {
        match r.status {
            super::CheckStatus::Failed => reasons.push(GateReason::no_go(
                name,
                format!("{}: {}", r.label, r.detail.clone().unwrap_or_default()),
            )),
            super::CheckStatus::Inconclusive => reasons.push(GateReason::paused(
                name,
                format!(
                    "{} inconclusive: {}",
                    r.label,
                    r.detail.clone().unwrap_or_default()
                ),
            )),
            _ => {}
        }
        list.push(r);
    }
    db.with(|inv| -> Result<()> {
        // The checklist and the health of a host: one transaction.
        let tx = inv.conn().unchecked_transaction()?;
        super::checks::store_checklist(inv, id, host, &list)?;
        inv.conn().execute(
            "UPDATE deployment_hosts SET health = ?3 WHERE deployment_id = ?1 AND host_id = ?2",
            params![
                id,
                host.id,
                serde_json::to_string(&after).unwrap_or_default()
            ],
        )?;
        tx.commit()?;
        Ok(())
    })?;
    emit(progress, Some(name), Phase::Done, "verified".into());
    Ok(reasons)
}

/// No-go at the current gate (also once a soak is over): the deployment halts, and when its
/// policy says so the hosts of the failed stage are rolled back at once (verified by a rescan).
/// Holds the deployment's lease.
pub async fn no_go(
    inv: &mut Inventory,
    id: i64,
    who: &str,
    reason: &str,
    ssh: &SshOptions,
    on_busy: OnBusy,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let _lease = lease::acquire(inv, id, Operation::NoGo, who, on_busy, &progress).await?;
    no_go_held(inv, id, who, reason, ssh, progress).await
}

async fn no_go_held(
    inv: &mut Inventory,
    id: i64,
    who: &str,
    reason: &str,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(DeployError::ReasonMissing {
            what: "a no-go".into(),
        }
        .into());
    }
    let st = status(inv, id)?;
    decide(inv, id, Decision::NoGo(reason), who)?;
    if !st.rollback_on_no_go {
        return status(inv, id);
    }
    let hosts: Vec<String> = st
        .stages
        .get(st.current_stage as usize)
        .map(|s| {
            s.hosts
                .iter()
                .filter(|h| h.excluded.is_none())
                .map(|h| h.host.clone())
                .collect()
        })
        .unwrap_or_default();
    emit(
        &progress,
        None,
        Phase::Running,
        format!("no-go: rolling back {} by policy", hosts.join(", ")),
    );
    super::rollback::rollback_held(inv, id, &hosts, ssh, progress).await
}

/// Go at the current gate, then continue. A soak that is over is measured again first (the
/// gate is decided on health as of now). At a gate the engine judged no-go a plain go is
/// refused; `override_no_go` (a written reason) overrides it, recorded in the audit log and
/// shown in the summary. Holds the deployment's lease.
pub async fn go(
    inv: &mut Inventory,
    id: i64,
    override_no_go: Option<&str>,
    who: &str,
    ssh: &SshOptions,
    on_busy: OnBusy,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let _lease = lease::acquire(inv, id, Operation::Go, who, on_busy, &progress).await?;
    go_held(inv, id, override_no_go, who, ssh, progress).await
}

async fn go_held(
    inv: &mut Inventory,
    id: i64,
    override_no_go: Option<&str>,
    who: &str,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let reason = match override_no_go.map(str::trim) {
        Some("") => {
            return Err(DeployError::ReasonMissing {
                what: "overriding a no-go gate".into(),
            }
            .into())
        }
        other => other,
    };
    let st = stored_status(inv, id)?;
    if st.state == DeploymentState::Running {
        if let Some(s) = st.stages.get(st.current_stage as usize) {
            let now = inv.clock().now();
            let soak_over =
                s.state == StageState::Soaking && s.soak_until.is_some_and(|u| u <= now);
            if soak_over || s.state == StageState::Applied {
                let after = advance_held(inv, id, ssh, progress.clone()).await?;
                // Auto mode may have decided the gate itself.
                if after.current_stage != st.current_stage
                    || after.state != DeploymentState::Running
                {
                    return Ok(after);
                }
            }
        }
    }
    decide(
        inv,
        id,
        match reason {
            Some(r) => Decision::GoOverNoGo(r),
            None => Decision::Go,
        },
        who,
    )?;
    advance_held(inv, id, ssh, progress).await
}

/// A gate decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision<'a> {
    Go,
    /// Go although the engine judged the gate no-go, with the written reason.
    GoOverNoGo(&'a str),
    /// No-go, with the written reason.
    NoGo(&'a str),
}

/// The current stage of an active deployment when it waits at its gate; otherwise the refusal
/// that says what the deployment waits for instead.
pub(super) fn stage_at_gate(st: &DeploymentStatus, id: i64) -> Result<&StageStatus> {
    st.stages
        .get(st.current_stage as usize)
        .filter(|s| s.state == StageState::Gate && st.state.is_active())
        .ok_or_else(|| {
            DeployError::NotAtGate {
                id,
                waiting: st
                    .waiting_for
                    .clone()
                    .map(|w| format!("it waits for {w}"))
                    .unwrap_or_else(|| format!("it is {}", st.state)),
            }
            .into()
        })
}

/// Take the gate decision for the current stage: go moves on, no-go halts the deployment.
fn decide(inv: &Inventory, id: i64, decision: Decision<'_>, who: &str) -> Result<()> {
    let st = status(inv, id)?;
    let stage = stage_at_gate(&st, id)?;
    let no_go_reasons: Vec<String> = stage
        .reasons
        .iter()
        // An inconclusive check blocks a plain go as a no-go does: no evidence is no pass.
        .filter(|r| r.verdict != GateVerdict::Go)
        .map(GateReason::to_string)
        .collect();
    let healthy = no_go_reasons.is_empty();
    let (go, override_reason) = match decision {
        Decision::Go if !healthy => {
            return Err(DeployError::NoGoGate {
                id,
                stage: stage.name.clone(),
                reasons: no_go_reasons.join("; ").chars().take(600).collect(),
            }
            .into())
        }
        Decision::Go => (true, None),
        Decision::GoOverNoGo(r) => (true, (!healthy).then_some(r)),
        Decision::NoGo(_) => (false, None),
    };
    let now = inv.clock().now();
    let tx = inv.conn().unchecked_transaction()?;
    tx.execute(
        "UPDATE deployment_stages SET state = ?3, decision = ?4, decided_at = ?5, decided_by = ?6, override_reason = ?7, decision_reason = ?8 WHERE deployment_id = ?1 AND idx = ?2",
        params![id, stage.idx, if go { StageState::Done } else { StageState::Failed }, if go { GateVerdict::Go } else { GateVerdict::NoGo }, now, who, override_reason, match decision { Decision::NoGo(r) | Decision::GoOverNoGo(r) => Some(r), Decision::Go => None }],
    )?;
    if !go {
        tx.execute(
            "UPDATE deployments SET state = ?3, updated_at = ?2 WHERE id = ?1",
            params![id, now, DeploymentState::Halted],
        )?;
    }
    tx.commit()?;
    let (action, detail) = match (go, override_reason) {
        (true, Some(r)) => (
            "gate-go-override",
            format!(
                "deployment {id} stage {}: go over the engine's no-go, reason: {r} (no-go said: {})",
                stage.name,
                no_go_reasons.join("; ")
            ),
        ),
        (true, None) => ("gate-go", format!("deployment {id} stage {}", stage.name)),
        (false, _) => (
            "gate-no-go",
            format!(
                "deployment {id} stage {}, reason: {}",
                stage.name,
                match decision {
                    Decision::NoGo(r) => r,
                    _ => "",
                }
            ),
        ),
    };
    inv.audit(who, None, action, "note", None, None, None, Some(&detail))?;
    Ok(())
}

/// Leave a host out of the rest of a deployment, with a written reason (recorded in the audit
/// log and shown in the status): a pending host is not patched, and a host in attention or
/// Delete an abandoned plan: a deployment still `planned` (never started, so no host was
/// touched). Any other state is refused (its history stays). Holds the deployment's lease; the
/// deletion is audited with what the plan was.
pub fn delete_planned(inv: &Inventory, id: i64, who: &str, on_busy: OnBusy) -> Result<()> {
    let lease = lease::acquire_blocking(inv, id, Operation::Delete, who, on_busy)?;
    let st = status(inv, id)?;
    if st.state != DeploymentState::Planned {
        return Err(DeployError::NotPlanned {
            id,
            state: st.state,
        }
        .into());
    }
    let what = format!(
        "deployment {id} {:?} (scope {}) deleted: planned, never started",
        st.name, st.scope
    );
    // The state is checked again in the statement itself: a plan started meanwhile stays.
    let n = inv.conn().execute(
        "DELETE FROM deployments WHERE id = ?1 AND state = ?2",
        rusqlite::params![id, DeploymentState::Planned],
    )?;
    drop(lease);
    if n == 0 {
        return Err(DeployError::NotPlanned {
            id,
            state: stored_status(inv, id)?.state,
        }
        .into());
    }
    inv.audit(
        who,
        None,
        "deploy-delete",
        "note",
        None,
        None,
        None,
        Some(&what),
    )?;
    Ok(())
}

/// Leave a host out of the rest of a deployment, with a written reason. A host that has not
/// failed no longer blocks the deployment from finishing; rollback skips it unless named.
/// Holds the deployment's lease.
pub fn exclude(
    inv: &Inventory,
    id: i64,
    host: &str,
    reason: &str,
    who: &str,
    on_busy: OnBusy,
) -> Result<DeploymentStatus> {
    let _lease = lease::acquire_blocking(inv, id, Operation::Exclude, who, on_busy)?;
    exclude_held(inv, id, host, reason, who)
}

fn exclude_held(
    inv: &Inventory,
    id: i64,
    host: &str,
    reason: &str,
    who: &str,
) -> Result<DeploymentStatus> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(DeployError::ReasonMissing {
            what: format!("excluding {host}"),
        }
        .into());
    }
    let st = status(inv, id)?;
    let h = st
        .stages
        .iter()
        .flat_map(|s| &s.hosts)
        .find(|h| h.host == host)
        .ok_or_else(|| DeployError::HostNotInDeployment {
            id,
            host: host.to_string(),
        })?;
    if let Some(r) = &h.excluded {
        return Err(DeployError::AlreadyExcluded {
            id,
            host: host.to_string(),
            reason: r.clone(),
        }
        .into());
    }
    if !h.state.may_exclude() {
        return Err(DeployError::CannotExclude {
            id,
            host: host.to_string(),
            state: h.state,
        }
        .into());
    }
    let rec = inv.host(host)?;
    inv.conn().execute(
        "UPDATE deployment_hosts SET excluded_reason = ?3, excluded_at = ?4, excluded_by = ?5, note = NULL WHERE deployment_id = ?1 AND host_id = ?2",
        params![id, rec.id, reason, inv.clock().now(), who],
    )?;
    inv.audit(
        who,
        Some(host),
        "deployment-exclude",
        "note",
        None,
        None,
        None,
        Some(&format!(
            "deployment {id}: excluded while {}; reason: {reason}",
            h.state
        )),
    )?;
    if h.state.is_unresolved() {
        close_interrupted(
            inv,
            &rec,
            "apply",
            &format!(
                "outcome not established: the host was excluded from deployment {id} ({reason})"
            ),
        )?;
    }
    finish_if_done(inv, id)?;
    status(inv, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manual deployment on one host `h1`, its only stage in `stage_state` with `reasons`.
    fn deployment(
        stage_state: &str,
        soak_until: &str,
        reasons: &str,
        host_state: &str,
    ) -> Inventory {
        let (inv, _) = crate::inventory::test_util::inv();
        inv.conn()
            .execute_batch(&format!(
                "INSERT INTO hosts (name, address, port, user, auth_kind, environment, created_at, updated_at)
                   VALUES ('h1', '192.0.2.1', 22, 'root', 'agent', 'non-prod', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
                 INSERT INTO deployments (name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides, transaction_planned)
                   VALUES ('d', 'h1', '2026-11-23T12:00:00Z', '2026-11-23T12:00:00Z', 'running', 0, 'manual', 86400, '[]', '[]', '{{}}', 1);
                 INSERT INTO deployment_stages (deployment_id, idx, name, state, soak_until, reasons) VALUES (1, 0, 'canary', '{stage_state}', '{soak_until}', '{reasons}');
                 INSERT INTO deployment_hosts (deployment_id, host_id, stage_idx, state) VALUES (1, 1, 0, '{host_state}');"
            ))
            .unwrap();
        inv
    }

    #[test]
    fn only_a_plan_that_never_started_is_deleted_and_the_deletion_is_audited() {
        let inv = deployment("soaking", "2026-11-24T11:00:00Z", "[]", "applied");
        let e = delete_planned(&inv, 1, "ana", OnBusy::Refuse).unwrap_err();
        assert_eq!(e.code(), "not_planned", "{e}");
        assert!(e.to_string().contains("deployment 1 is running"), "{e}");
        assert!(status(&inv, 1).is_ok(), "a running deployment stays");
        inv.conn()
            .execute("UPDATE deployments SET state = 'planned' WHERE id = 1", [])
            .unwrap();
        delete_planned(&inv, 1, "ana", OnBusy::Refuse).unwrap();
        assert_eq!(status(&inv, 1).unwrap_err().code(), "unknown_deployment");
        let n: i64 = inv
            .conn()
            .query_row("SELECT count(*) FROM deployment_hosts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "its stages and hosts went with it");
        let a = inv.audit_entries(None, 5).unwrap();
        assert!(
            a.iter().any(|x| x.action == "deploy-delete"
                && x.actor == "ana"
                && x.detail.as_deref().unwrap_or("").contains("deployment 1")),
            "{a:?}"
        );
        assert_eq!(
            delete_planned(&inv, 1, "ana", OnBusy::Refuse)
                .unwrap_err()
                .code(),
            "unknown_deployment"
        );
    }

    #[test]
    fn a_soak_that_is_over_is_a_gate_as_of_now_and_no_countdown_is_negative() {
        // The clock says 2026-11-24T12:00:00Z; the soak ended an hour before.
        let inv = deployment("soaking", "2026-11-24T11:00:00Z", "[]", "applied");
        let st = status(&inv, 1).unwrap();
        assert_eq!(st.stages[0].state, StageState::Gate);
        assert_eq!(st.stages[0].soak_seconds_left, Some(0));
        assert_eq!(
            st.waiting_for.as_deref(),
            Some("your go / no-go on the canary gate (the soak is over)")
        );
        assert_eq!(
            stored_status(&inv, 1).unwrap().stages[0].state,
            StageState::Soaking
        );
        let running = deployment("soaking", "2026-11-24T15:30:00Z", "[]", "applied");
        let st = status(&running, 1).unwrap();
        assert_eq!(st.stages[0].soak_seconds_left, Some(3 * 3600 + 1800));
        assert_eq!(
            st.waiting_for.as_deref(),
            Some("the canary soak (3h 30m left)")
        );
        assert_eq!(hours_minutes(-3600), "0h 0m");
    }

    #[test]
    fn a_plain_go_at_a_no_go_gate_is_refused_and_an_override_is_recorded() {
        let inv = deployment(
            "gate",
            "2026-11-24T11:00:00Z",
            r#"[{"verdict":"no-go","host":"h1","message":"smoke test `x` failed (exit 1)"}]"#,
            "applied",
        );
        let e = decide(&inv, 1, Decision::Go, "user").unwrap_err();
        assert_eq!(e.code(), "no_go_gate");
        assert!(
            e.to_string().starts_with("the canary gate of deployment 1 is no-go (NO-GO h1: smoke test `x` failed (exit 1)): a plain go is refused."),
            "{e}"
        );
        assert_eq!(
            status(&inv, 1).unwrap().stages[0].decision,
            None,
            "nothing decided"
        );
        decide(&inv, 1, Decision::GoOverNoGo("known flaky"), "user").unwrap();
        let st = status(&inv, 1).unwrap();
        let s = &st.stages[0];
        assert_eq!(
            (
                s.state,
                s.decision,
                s.override_reason.as_deref(),
                s.decided_by.as_deref()
            ),
            (
                StageState::Done,
                Some(GateVerdict::Go),
                Some("known flaky"),
                Some("user")
            )
        );
        let a = &inv.audit_entries(None, 1).unwrap()[0];
        assert_eq!(a.action, "gate-go-override");
        assert!(
            a.detail.as_deref().unwrap().contains("reason: known flaky"),
            "{a:?}"
        );
        let e = decide(&inv, 1, Decision::Go, "user").unwrap_err();
        assert_eq!(e.code(), "not_at_gate", "{e}");
        // At a healthy gate a go needs no override, and none is recorded.
        let ok = deployment("gate", "2026-11-24T11:00:00Z", "[]", "applied");
        decide(&ok, 1, Decision::GoOverNoGo("not needed"), "user").unwrap();
        assert_eq!(status(&ok, 1).unwrap().stages[0].override_reason, None);
    }

    #[test]
    fn excluding_needs_a_reason_and_a_host_that_can_be_left_out() {
        let inv = deployment("done", "2026-11-24T11:00:00Z", "[]", "attention");
        inv.conn()
            .execute("UPDATE deployments SET current_stage = 1 WHERE id = 1", [])
            .unwrap();
        let st = status(&inv, 1).unwrap();
        assert_eq!(st.state, DeploymentState::Running);
        assert!(
            st.waiting_for
                .as_deref()
                .unwrap()
                .starts_with("h1 to be repaired or excluded before the deployment can finish"),
            "{st:?}"
        );
        assert_eq!(
            exclude(&inv, 1, "h1", "  ", "user", OnBusy::Refuse)
                .unwrap_err()
                .code(),
            "reason_missing"
        );
        assert_eq!(
            exclude(&inv, 1, "h2", "x", "user", OnBusy::Refuse)
                .unwrap_err()
                .code(),
            "host_not_in_deployment"
        );
        assert_eq!(
            exclude(&inv, 9, "h1", "x", "user", OnBusy::Refuse)
                .unwrap_err()
                .code(),
            "unknown_deployment"
        );
        let st = exclude(&inv, 1, "h1", "decommissioned", "user", OnBusy::Refuse).unwrap();
        assert_eq!(st.state, DeploymentState::Finished, "nothing else held it");
        assert_eq!(
            st.stages[0].hosts[0].excluded.as_deref(),
            Some("decommissioned")
        );
        assert_eq!(
            exclude(&inv, 1, "h1", "again", "user", OnBusy::Refuse)
                .unwrap_err()
                .code(),
            "already_excluded"
        );
        let applied = deployment("gate", "2026-11-24T11:00:00Z", "[]", "applied");
        let e = exclude(&applied, 1, "h1", "x", "user", OnBusy::Refuse).unwrap_err();
        assert_eq!(e.code(), "cannot_exclude");
        assert!(
            e.to_string()
                .contains("`patchdesk deploy rollback 1 --host h1`"),
            "{e}"
        );
    }
}
