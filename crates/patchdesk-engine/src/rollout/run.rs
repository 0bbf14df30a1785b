//! Running a deployment: the `advance` step function (apply → verify → soak → gate) and the
//! gate decision. Reads and writes only the deployment tables; host work goes through `remote`.

use super::*;

/// Advance a deployment as far as it can go now: apply, verify, soak, gate. Returns when it must
/// wait (soak time, a manual gate) or is finished or halted. Safe to call again at any time.
pub async fn advance(
    inv: &mut Inventory,
    id: i64,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    loop {
        let st = status(inv, id)?;
        if !(st.state == "planned" || st.state == "running") {
            return Ok(st);
        }
        if st.state == "planned" {
            inv.conn().execute(
                "UPDATE deployments SET state = 'running', updated_at = ?2 WHERE id = ?1",
                params![id, inv.clock().now()],
            )?;
        }
        let Some(stage) = st.stages.get(st.current_stage as usize) else {
            inv.conn().execute(
                "UPDATE deployments SET state = 'finished', updated_at = ?2 WHERE id = ?1",
                params![id, inv.clock().now()],
            )?;
            emit(
                &progress,
                None,
                Phase::Done,
                format!("deployment {id} finished"),
            );
            continue;
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
        match stage.state.as_str() {
            "pending" => {
                let hosts: Vec<HostRecord> = stage_hosts(inv, id, idx)?
                    .into_iter()
                    .map(|(h, _)| h)
                    .collect();
                if super::window::closed_window(inv, &hosts)?.is_some() {
                    // Outside the maintenance window: nothing changes until it opens.
                    return status(inv, id);
                }
                apply_stage(inv, id, idx, &smoke, ssh, &progress).await?
            }
            "applied" => verify_stage(inv, id, idx, &smoke, ssh, &progress).await?,
            "soaking" => {
                let until = stage.soak_until.unwrap_or_else(|| inv.clock().now());
                if inv.clock().now() < until {
                    return status(inv, id);
                }
                // End of soak: measure again before the gate.
                verify_stage(inv, id, idx, &smoke, ssh, &progress).await?;
            }
            "gate" => {
                let healthy = stage.reasons.iter().all(|r| !r.starts_with("NO-GO"));
                if st.mode == "auto" && healthy {
                    decide(inv, id, true, "auto")?;
                } else if st.mode == "auto" {
                    return no_go(inv, id, "auto", ssh, progress).await;
                } else {
                    return status(inv, id);
                }
            }
            "done" => {
                inv.conn().execute("UPDATE deployments SET current_stage = current_stage + 1, updated_at = ?2 WHERE id = ?1", params![id, inv.clock().now()])?;
            }
            _ => return status(inv, id),
        }
    }
}

async fn apply_stage(
    inv: &mut Inventory,
    id: i64,
    idx: i64,
    smoke: &[String],
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<()> {
    let now = inv.clock().now();
    inv.conn().execute("UPDATE deployment_stages SET started_at = coalesce(started_at, ?3) WHERE deployment_id = ?1 AND idx = ?2", params![id, idx, now])?;
    for (host, state) in stage_hosts(inv, id, idx)? {
        let name = host.spec.name.clone();
        match state.as_str() {
            "applied" | "failed" => continue,
            "applying" | "attention" => {
                // Interrupted mid-apply (crash, kill, host dropped): check dpkg before anything else.
                set_host(
                    inv,
                    id,
                    &host,
                    "attention",
                    Some("interrupted while applying; checking dpkg --audit"),
                )?;
                emit(
                    progress,
                    Some(&name),
                    Phase::Running,
                    "interrupted mid-apply: running dpkg --audit".into(),
                );
                let audit_cmd = format!("{}dpkg --audit", sudo(&host));
                let targets = targets_of(inv, id, &host)?;
                let query = format!(
                    "dpkg-query -W -f='${{Package}}\\t${{Version}}\\n' {}",
                    targets
                        .iter()
                        .map(|(p, _, _)| shell_quote(p))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                let (ok, already) = match connect(&host, ssh).await {
                    Ok(conn) => {
                        let r = conn.run(&audit_cmd, None).await;
                        let ok = matches!(&r, Ok(o) if o.exit_status == Some(0) && o.stdout.iter().all(|b| b.is_ascii_whitespace()));
                        // Did the interrupted apply in fact complete? Then verify, do not repeat.
                        let have = conn
                            .run(&query, None)
                            .await
                            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                            .unwrap_or_default();
                        conn.close().await;
                        let installed: BTreeMap<&str, &str> =
                            have.lines().filter_map(|l| l.split_once('\t')).collect();
                        let already = targets
                            .iter()
                            .all(|(p, _, to)| installed.get(p.as_str()) == Some(&to.as_str()));
                        (ok, already)
                    }
                    Err(_) => (false, false),
                };
                if !ok {
                    set_host(inv, id, &host, "attention", Some("dpkg --audit reports broken packages (or the host is unreachable): repair it (`dpkg --configure -a`), then resume"))?;
                    continue;
                }
                if already {
                    emit(
                        progress,
                        Some(&name),
                        Phase::Done,
                        "the interrupted apply had completed: not repeated".into(),
                    );
                    set_host(inv, id, &host, "applied", None)?;
                    continue;
                }
            }
            _ => {}
        }
        emit(
            progress,
            Some(&name),
            Phase::Running,
            "measuring the baseline".into(),
        );
        let baseline = health(&host, smoke, ssh).await;
        inv.conn().execute(
            "UPDATE deployment_hosts SET baseline = coalesce(baseline, ?3) WHERE deployment_id = ?1 AND host_id = ?2",
            params![id, host.id, serde_json::to_string(&baseline).unwrap_or_default()],
        )?;
        let pins: Vec<(String, String)> = targets_of(inv, id, &host)?
            .into_iter()
            .map(|(p, _, to)| (p, to))
            .collect();
        if let Some(hook) = snapshot_hook(inv, &scope_of(inv, id)?)? {
            emit(
                progress,
                Some(&name),
                Phase::Running,
                "taking a snapshot".into(),
            );
            if let Err(e) = run_hook(inv, &host, &hook, "snapshot", ssh).await {
                let msg = format!("{e}; nothing was applied");
                emit(progress, Some(&name), Phase::Failed, msg.clone());
                set_host(inv, id, &host, "failed", Some(&msg))?;
                continue;
            }
        }
        set_host(inv, id, &host, "applying", None)?;
        emit(
            progress,
            Some(&name),
            Phase::Running,
            format!(
                "applying {}",
                pins.iter()
                    .map(|(p, v)| format!("{p}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        );
        let cmd = apt_command(&host, &pins, false);
        match run_apt(inv, id, &host, "apply", &cmd, ssh, progress).await {
            Ok(()) => set_host(inv, id, &host, "applied", None)?,
            Err(e) => {
                emit(progress, Some(&name), Phase::Failed, e.clone());
                set_host(inv, id, &host, "failed", Some(&e))?;
            }
        }
    }
    inv.conn().execute(
        "UPDATE deployment_stages SET state = 'applied', applied_at = ?3 WHERE deployment_id = ?1 AND idx = ?2",
        params![id, idx, inv.clock().now()],
    )?;
    Ok(())
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
    let names: Vec<String> = hosts.iter().map(|(h, _)| h.spec.name.clone()).collect();
    rescan(inv, &names, ssh).await?;
    let mut reasons = Vec::new();
    for (host, state) in &hosts {
        let name = &host.spec.name;
        if state == "failed" || state == "attention" {
            let err: Option<String> = inv.conn().query_row(
                "SELECT error FROM deployment_hosts WHERE deployment_id = ?1 AND host_id = ?2",
                params![id, host.id],
                |r| r.get(0),
            )?;
            reasons.push(format!(
                "NO-GO {name}: {}",
                err.unwrap_or_else(|| "failed".into())
            ));
            continue;
        }
        // Patch level: the exact planned versions are installed (from the fresh scan).
        let installed = installed_packages(inv, name)?;
        for (pkg, _from, to) in targets_of(inv, id, host)? {
            match installed.get(&pkg) {
                Some(p) if p.version == to => {}
                other => reasons.push(format!(
                    "NO-GO {name}: {pkg} {to} is not installed (has {})",
                    other.map(|p| p.version.as_str()).unwrap_or("none")
                )),
            }
        }
        let after = health(host, smoke, ssh).await;
        let baseline: Health = inv
            .conn()
            .query_row(
                "SELECT baseline FROM deployment_hosts WHERE deployment_id = ?1 AND host_id = ?2",
                params![id, host.id],
                |r| r.get::<_, Option<String>>(0),
            )?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default();
        if !after.reachable {
            reasons.push(format!(
                "NO-GO {name}: not back: {}",
                after.error.clone().unwrap_or_default()
            ));
        }
        for (cmd, status) in &after.smoke {
            if *status != 0 {
                reasons.push(format!(
                    "NO-GO {name}: smoke test `{cmd}` failed (exit {status})"
                ));
            }
        }
        match (baseline.failed_units, after.failed_units) {
            (Some(b), Some(a)) if a > b => reasons.push(format!(
                "NO-GO {name}: new failed systemd units ({b} → {a})"
            )),
            (_, None) => reasons.push(format!(
                "{name}: failed units not available (no systemd): not checked"
            )),
            _ => {}
        }
        match (baseline.journal_errors, after.journal_errors) {
            (Some(b), Some(a)) if a > b => {
                reasons.push(format!("NO-GO {name}: new journal errors ({b} → {a})"))
            }
            (_, None) => reasons.push(format!("{name}: journal errors not available: not checked")),
            _ => {}
        }
        if after.reboot_required && !baseline.reboot_required {
            reasons.push(format!("{name}: now needs a reboot"));
        }
        inv.conn().execute(
            "UPDATE deployment_hosts SET health = ?3 WHERE deployment_id = ?1 AND host_id = ?2",
            params![
                id,
                host.id,
                serde_json::to_string(&after).unwrap_or_default()
            ],
        )?;
        emit(progress, Some(name), Phase::Done, "verified".into());
    }
    let (stage_name, state, applied_at): (String, String, Option<DateTime<Utc>>) = inv.conn().query_row(
        "SELECT name, state, applied_at FROM deployment_stages WHERE deployment_id = ?1 AND idx = ?2",
        params![id, idx],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let soak: i64 = inv.conn().query_row(
        "SELECT canary_soak_secs FROM deployments WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;
    let healthy = reasons.iter().all(|r| !r.starts_with("NO-GO"));
    // A healthy canary soaks before its gate; an unhealthy one goes to the gate at once.
    let next = if state == "applied" && stage_name == "canary" && soak > 0 && healthy {
        "soaking"
    } else {
        "gate"
    };
    let soak_until = applied_at.unwrap_or_else(|| inv.clock().now()) + Duration::seconds(soak);
    inv.conn().execute(
        "UPDATE deployment_stages SET state = ?3, soak_until = CASE WHEN ?3 = 'soaking' THEN ?4 ELSE soak_until END, reasons = ?5 WHERE deployment_id = ?1 AND idx = ?2",
        params![id, idx, next, soak_until, serde_json::to_string(&reasons).unwrap_or_default()],
    )?;
    Ok(())
}

/// No-go at the current gate: the deployment halts, and when its policy says so the hosts of the
/// failed stage are rolled back at once (verified by a rescan).
pub async fn no_go(
    inv: &mut Inventory,
    id: i64,
    who: &str,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let st = status(inv, id)?;
    decide(inv, id, false, who)?;
    if !st.rollback_on_no_go {
        return status(inv, id);
    }
    let hosts: Vec<String> = st
        .stages
        .get(st.current_stage as usize)
        .map(|s| s.hosts.iter().map(|h| h.host.clone()).collect())
        .unwrap_or_default();
    emit(
        &progress,
        None,
        Phase::Running,
        format!("no-go: rolling back {} by policy", hosts.join(", ")),
    );
    super::rollback(inv, id, &hosts, ssh, progress).await
}

/// Take the gate decision for the current stage: go moves on, no-go halts the deployment.
pub fn decide(inv: &Inventory, id: i64, go: bool, who: &str) -> Result<()> {
    let st = status(inv, id)?;
    let stage = st
        .stages
        .get(st.current_stage as usize)
        .filter(|s| s.state == "gate")
        .ok_or_else(|| {
            Error::Invalid(format!(
                "deployment {id} is not at a gate ({}): nothing to decide",
                st.waiting_for.clone().unwrap_or(st.state.clone())
            ))
        })?;
    let now = inv.clock().now();
    let tx = inv.conn().unchecked_transaction()?;
    tx.execute(
        "UPDATE deployment_stages SET state = ?3, decision = ?4, decided_at = ?5, decided_by = ?6 WHERE deployment_id = ?1 AND idx = ?2",
        params![id, stage.idx, if go { "done" } else { "failed" }, if go { "go" } else { "no-go" }, now, who],
    )?;
    if !go {
        tx.execute(
            "UPDATE deployments SET state = 'halted', updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
    }
    tx.commit()?;
    inv.audit(
        who,
        None,
        if go { "gate-go" } else { "gate-no-go" },
        "note",
        None,
        None,
        None,
        Some(&format!("deployment {id} stage {}", stage.name)),
    )?;
    Ok(())
}
