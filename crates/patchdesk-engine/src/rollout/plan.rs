//! Planning: rings, exact from → to versions, rollback paths checked on the hosts, guards.
//! Writes a deployment only when no guard blocks it; changes nothing on any host.

use super::*;

/// Plan a deployment. Needs SSH: the rollback path of every host is checked on the host
/// (is the exact current version still offered by its repositories, i.e. can it downgrade?).
pub async fn plan(inv: &mut Inventory, req: &PlanRequest, ssh: &SshOptions) -> Result<Plan> {
    if req.name.trim().is_empty() {
        return Err(Error::Invalid("give the deployment a name".into()));
    }
    crate::host::validate_label(&req.scope).map_err(Error::Invalid)?;
    if let Some(c) = req.cves.iter().find(|c| !super::selection::valid_cve(c)) {
        return Err(Error::Invalid(format!(
            "{c:?} is not a CVE id (CVE-2026-12345)"
        )));
    }
    if !(0..=168).contains(&req.canary_soak_hours) {
        return Err(Error::Invalid(
            "the canary soak must be between 0 and 168 hours".into(),
        ));
    }
    if req.waves.is_empty()
        || req.waves.iter().any(|w| *w == 0 || *w > 100)
        || req.waves.windows(2).any(|w| w[0] >= w[1])
        || *req.waves.last().unwrap() != 100
    {
        return Err(Error::Invalid(
            "waves are rising percentages ending at 100, e.g. 5,25,50,100".into(),
        ));
    }
    let items = classify::patches(
        inv,
        &PatchFilter {
            bucket: req.bucket,
            group: Some(req.scope.clone()),
            host: None,
        },
    )?;
    let items: Vec<_> = items
        .into_iter()
        .filter(|p| {
            (req.packages.is_empty() && req.cves.is_empty())
                || req.packages.contains(&p.package)
                || p.cves
                    .iter()
                    .any(|c| req.cves.iter().any(|w| w.eq_ignore_ascii_case(&c.cve)))
        })
        .collect();
    if items.is_empty() {
        return Err(Error::Invalid(format!(
            "nothing to deploy: no pending update in scope {:?} matches the selection",
            req.scope
        )));
    }
    let mut targets = Vec::new();
    for p in &items {
        if !valid_package(&p.package)
            || p.candidate_version.parse::<Version>().is_err()
            || p.installed_version.parse::<Version>().is_err()
        {
            return Err(Error::Invalid(format!(
                "{}: {} has an unusable version; rescan the host",
                p.host, p.package
            )));
        }
        targets.push(Target {
            host: p.host.clone(),
            package: p.package.clone(),
            from_version: p.installed_version.clone(),
            to_version: p.candidate_version.clone(),
        });
    }
    let hosts: BTreeSet<String> = targets.iter().map(|t| t.host.clone()).collect();
    let records: BTreeMap<String, HostRecord> = hosts
        .iter()
        .map(|h| Ok((h.clone(), inv.host(h)?)))
        .collect::<Result<_>>()?;
    let canary: Vec<String> = hosts
        .iter()
        .filter(|h| records[*h].spec.environment == Environment::NonProd)
        .cloned()
        .collect();
    let prod: Vec<String> = hosts
        .iter()
        .filter(|_| !req.non_prod_only)
        .filter(|h| records[*h].spec.environment == Environment::Prod)
        .cloned()
        .collect();
    let mut stages = Vec::new();
    if !canary.is_empty() {
        stages.push(StagePlan {
            name: "canary".into(),
            hosts: canary.clone(),
        });
    }
    for (name, hs) in waves(&prod, &req.waves) {
        stages.push(StagePlan { name, hosts: hs });
    }

    let mut guards = Vec::new();
    let mut warnings = Vec::new();
    let urgent = items
        .iter()
        .any(|p| matches!(p.bucket, Bucket::Critical | Bucket::High));
    if canary.is_empty() {
        guards.push(Guard {
            code: "no-canary".into(),
            message: if urgent {
                "no non-prod host in scope: critical/high patches would skip the canary".into()
            } else {
                "no non-prod host in scope: the deployment would skip the canary".into()
            },
            overridden_by: None,
        });
    }
    if req.waves == [100] && prod.len() > 1 {
        guards.push(Guard {
            code: "single-stage".into(),
            message: format!("one stage straight to all {} production hosts", prod.len()),
            overridden_by: None,
        });
    }
    let per_host_max = hosts
        .iter()
        .map(|h| targets.iter().filter(|t| &t.host == h).count())
        .max()
        .unwrap_or(0);
    let now = inv.clock().now();
    let oldest = items.iter().filter_map(|p| p.disclosed_at).min();
    if per_host_max > 25 || oldest.is_some_and(|d| now - d > Duration::days(90)) {
        warnings.push(format!(
            "Patch Tuesday heroism: up to {per_host_max} updates on one host{}; smaller, regular batches are safer",
            oldest.filter(|d| now - *d > Duration::days(90)).map(|d| format!(", backlog since {}", d.format("%Y-%m-%d"))).unwrap_or_default()
        ));
    }
    if !(24..=48).contains(&req.canary_soak_hours) && !canary.is_empty() {
        warnings.push(format!(
            "canary soak of {} h is outside the recommended 24–48 h",
            req.canary_soak_hours
        ));
    }

    // Rollback paths, checked on each host: the exact current versions must still be offered.
    let mut rollback = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for h in &hosts {
        let rec = records[h].clone();
        let pkgs: Vec<(String, String)> = targets
            .iter()
            .filter(|t| &t.host == h)
            .map(|t| (t.package.clone(), t.from_version.clone()))
            .collect();
        let ssh = ssh.clone();
        set.spawn(async move {
            let res = async {
                let conn = connect(&rec, &ssh).await?;
                let cmd = pkgs
                    .iter()
                    .map(|(p, _)| format!("apt-cache madison {}", shell_quote(p)))
                    .collect::<Vec<_>>()
                    .join("; ");
                // Can it also pin (apt-mark hold + apt preferences)?
                let out = conn
                    .run(&format!("LC_ALL=C; {cmd}; command -v apt-mark >/dev/null && [ -d /etc/apt/preferences.d ] && echo PATCHDESK-PIN-OK"), None)
                    .await;
                conn.close().await;
                Ok::<_, HostError>(String::from_utf8_lossy(&out?.stdout).into_owned())
            }
            .await;
            (rec.spec.name.clone(), pkgs, res)
        });
    }
    while let Some(j) = set.join_next().await {
        let Ok((host, pkgs, res)) = j else { continue };
        let path = match res {
            Err(e) => RollbackPath {
                host: host.clone(),
                kind: "none".into(),
                ok: false,
                detail: format!("cannot check: {e}"),
            },
            Ok(madison) => {
                let offered: BTreeSet<(String, String)> = madison
                    .lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split('|').map(str::trim).collect();
                        (f.len() >= 2).then(|| (f[0].to_string(), f[1].to_string()))
                    })
                    .collect();
                let missing: Vec<String> = pkgs
                    .iter()
                    .filter(|(p, v)| !offered.contains(&(p.clone(), v.clone())))
                    .map(|(p, v)| format!("{p} {v}"))
                    .collect();
                let exact = pkgs
                    .iter()
                    .map(|(p, v)| format!("{p}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let can_pin = madison.lines().any(|l| l.trim() == "PATCHDESK-PIN-OK");
                if missing.is_empty() && req.pin && can_pin {
                    RollbackPath {
                        host: host.clone(),
                        kind: "pin".into(),
                        ok: true,
                        detail: format!("downgrade to {exact} and pin it (apt-mark hold + apt preferences) until `deploy unpin`"),
                    }
                } else if missing.is_empty() {
                    if req.pin {
                        warnings.push(format!("{host}: cannot pin (no apt-mark or /etc/apt/preferences.d): its rollback only downgrades"));
                    }
                    RollbackPath {
                        host: host.clone(),
                        kind: "downgrade".into(),
                        ok: true,
                        detail: format!("downgrade to {exact}"),
                    }
                } else {
                    RollbackPath {
                        host: host.clone(),
                        kind: "none".into(),
                        ok: false,
                        detail: format!(
                            "the repositories no longer offer {}: no downgrade path",
                            missing.join(", ")
                        ),
                    }
                }
            }
        };
        if !path.ok {
            guards.push(Guard {
                code: format!("rollback:{host}"),
                message: format!("{host} has no working rollback path ({})", path.detail),
                overridden_by: None,
            });
        }
        rollback.push(path);
    }
    rollback.sort_by(|a, b| a.host.cmp(&b.host));
    // A group snapshot hook is a rollback path of its own where no downgrade is possible.
    if let Some(hook) = snapshot_hook(inv, &req.scope)? {
        for r in rollback.iter_mut().filter(|r| !r.ok) {
            r.kind = "snapshot".into();
            r.ok = true;
            r.detail = format!(
                "{}; restore by the {} hook `{}`",
                r.detail, hook.on, hook.restore
            );
        }
        guards.retain(|g| !g.code.starts_with("rollback:"));
    }
    for g in &mut guards {
        if let Some(reason) = req.overrides.get(&g.code).filter(|r| !r.trim().is_empty()) {
            g.overridden_by = Some(reason.clone());
        }
    }
    // No smoke tests named: the scope group's own.
    let smoke = if req.smoke.is_empty() {
        super::smoke_tests(inv, &req.scope)?
    } else {
        req.smoke.clone()
    };
    let mut plan = Plan {
        deployment_id: None,
        smoke,
        stages,
        targets,
        rollback,
        warnings,
        guards,
    };
    if !plan.blocked().is_empty() {
        return Ok(plan);
    }

    let now = inv.clock().now();
    let smoke = plan.smoke.clone();
    let tx = inv.conn_mut().transaction()?;
    let overrides: BTreeMap<&str, &str> = plan
        .guards
        .iter()
        .filter_map(|g| g.overridden_by.as_deref().map(|r| (g.code.as_str(), r)))
        .collect();
    tx.execute(
        "INSERT INTO deployments (name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides, rollback_on_no_go)
         VALUES (?1, ?2, ?3, ?3, 'planned', 0, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            req.name.trim(),
            req.scope,
            now,
            if req.auto { "auto" } else { "manual" },
            req.canary_soak_hours * 3600,
            serde_json::to_string(&smoke).unwrap_or_default(),
            serde_json::to_string(&plan.warnings).unwrap_or_default(),
            serde_json::to_string(&overrides).unwrap_or_default(),
            req.rollback_on_no_go,
        ],
    )?;
    let id = tx.last_insert_rowid();
    let host_id = |tx: &rusqlite::Transaction<'_>, name: &str| -> rusqlite::Result<i64> {
        tx.query_row("SELECT id FROM hosts WHERE name = ?1", [name], |r| r.get(0))
    };
    for (i, s) in plan.stages.iter().enumerate() {
        tx.execute("INSERT INTO deployment_stages (deployment_id, idx, name, state) VALUES (?1, ?2, ?3, 'pending')", params![id, i as i64, s.name])?;
        for h in &s.hosts {
            let hid = host_id(&tx, h)?;
            tx.execute("INSERT INTO deployment_hosts (deployment_id, host_id, stage_idx, state) VALUES (?1, ?2, ?3, 'pending')", params![id, hid, i as i64])?;
        }
    }
    for t in &plan.targets {
        let hid = host_id(&tx, &t.host)?;
        tx.execute(
            "INSERT INTO deployment_targets (deployment_id, host_id, package, from_version, to_version) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, hid, t.package, t.from_version, t.to_version],
        )?;
    }
    for r in &plan.rollback {
        let hid = host_id(&tx, &r.host)?;
        tx.execute(
            "INSERT INTO rollback_paths (deployment_id, host_id, kind, ok, detail, override_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, hid, r.kind, r.ok, r.detail, req.overrides.get(&format!("rollback:{}", r.host))],
        )?;
    }
    tx.commit()?;
    inv.audit(
        "user",
        None,
        "deployment-planned",
        "note",
        None,
        None,
        None,
        Some(&format!("deployment {id} {:?}", req.name)),
    )?;
    plan.deployment_id = Some(id);
    Ok(plan)
}
