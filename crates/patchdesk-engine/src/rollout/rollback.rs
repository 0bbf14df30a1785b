//! Rollback of a deployment's hosts along their recorded paths, verified by a rescan.

use super::*;

/// Roll back the hosts of a deployment that received the update (or only `only`): downgrade to
/// the exact recorded versions, then verify by a rescan.
pub async fn rollback(
    inv: &mut Inventory,
    id: i64,
    only: &[String],
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let st = status(inv, id)?;
    let mut touched = Vec::new();
    for stage in &st.stages {
        for hs in &stage.hosts {
            if !only.is_empty() && !only.contains(&hs.host) {
                continue;
            }
            if !matches!(
                hs.state.as_str(),
                "applied" | "failed" | "attention" | "rolling-back"
            ) {
                continue;
            }
            let host = inv.host(&hs.host)?;
            let pins: Vec<(String, String)> = targets_of(inv, id, &host)?
                .into_iter()
                .map(|(p, from, _)| (p, from))
                .collect();
            set_host(inv, id, &host, "rolling-back", None)?;
            emit(
                &progress,
                Some(&hs.host),
                Phase::Running,
                format!(
                    "rolling back to {}",
                    pins.iter()
                        .map(|(p, v)| format!("{p}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            );
            let result = if rollback_kind(inv, id, &host)? == "snapshot" {
                match snapshot_hook(inv, &scope_of(inv, id)?)? {
                    Some(hook) => run_hook(inv, &host, &hook, "restore", ssh).await,
                    None => Err(
                        "the snapshot hook was removed since the plan; restore the host by hand"
                            .into(),
                    ),
                }
            } else {
                run_audited(
                    inv,
                    &host,
                    "rollback",
                    &apt_command(&host, &pins, true),
                    ssh,
                )
                .await
            };
            match result {
                Ok(()) => touched.push((host, pins)),
                Err(e) => set_host(
                    inv,
                    id,
                    &host,
                    "failed",
                    Some(&format!("rollback failed: {e}")),
                )?,
            }
        }
    }
    let names: Vec<String> = touched.iter().map(|(h, _)| h.spec.name.clone()).collect();
    if !names.is_empty() {
        rescan(inv, &names, ssh).await?;
    }
    for (host, pins) in &touched {
        let installed = installed_versions(inv, &host.spec.name)?;
        let wrong: Vec<String> = pins
            .iter()
            .filter(|(p, v)| installed.get(p) != Some(v))
            .map(|(p, v)| format!("{p} {v}"))
            .collect();
        if wrong.is_empty() {
            set_host(inv, id, host, "rolled-back", None)?;
        } else {
            set_host(
                inv,
                id,
                host,
                "failed",
                Some(&format!(
                    "after rollback, not installed: {}",
                    wrong.join(", ")
                )),
            )?;
        }
    }
    let left: i64 = inv.conn().query_row(
        "SELECT count(*) FROM deployment_hosts WHERE deployment_id = ?1 AND state IN ('applied', 'applying', 'failed', 'attention', 'rolling-back')",
        [id],
        |r| r.get(0),
    )?;
    if left == 0 {
        inv.conn().execute(
            "UPDATE deployments SET state = 'rolled-back', updated_at = ?2 WHERE id = ?1",
            params![id, inv.clock().now()],
        )?;
    }
    status(inv, id)
}
