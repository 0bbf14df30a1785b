//! Planning: rings, the whole apt transaction of each host (exact from → to versions of every
//! package it upgrades, installs or removes), a rollback path checked on the host for each of
//! them, guards. Writes a deployment only when no guard blocks it; changes nothing on any host.

use super::*;
use crate::pkg::{deb, Family};

/// What one host said at plan time.
struct Probe {
    steps: Vec<super::transaction::Step>,
    offered: BTreeSet<(String, String)>,
    auto: BTreeSet<String>,
    can_pin: bool,
}

/// Ask one host, read-only, what the transaction would be and what rollback it allows, in its
/// family's terms: Debian `apt-get -s install --only-upgrade pkg=ver …`, `apt-cache madison` for
/// every package of that transaction, apt's auto marks, whether it can pin (`pkg::deb`); rpm
/// `dnf --assumeno upgrade NAME-EVR…`, `rpm -q`, `dnf repoquery` for every version a rollback
/// needs, whether the versionlock plugin answers (`pkg::rpm::transaction`).
async fn probe(
    rec: &HostRecord,
    fam: Family,
    pins: &[(String, String)],
    ssh: &SshOptions,
) -> std::result::Result<Probe, String> {
    let conn = connect(rec, ssh)
        .await
        .map_err(|e| format!("cannot check: {e}"))?;
    let res = match fam {
        Family::Deb => deb_probe(&conn, pins).await,
        Family::Rpm => rpm_probe(&conn, pins).await,
    };
    conn.close().await;
    res
}

async fn rpm_probe(
    conn: &Session,
    pins: &[(String, String)],
) -> std::result::Result<Probe, String> {
    use crate::pkg::rpm::{commands::Target, transaction as tx, Evr};
    let target = |p: &str, v: &str| -> std::result::Result<Target, String> {
        let evr: Evr = v.parse().map_err(|e| format!("{p}: {e}"))?;
        Target::new(p, &evr, None).map_err(|e| e.to_string())
    };
    let wanted = pins
        .iter()
        .map(|(p, v)| target(p, v))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let steps = super::manager::rpm_steps(conn, &tx::simulate("upgrade", &wanted)).await?;
    // What a rollback needs back: the version before of every package the transaction changes
    // or removes (a package it installs is simply removed).
    let back = steps
        .iter()
        .filter_map(|s| Some(target(&s.package, s.from.as_deref()?)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let out = conn
        .run(&tx::rollback_probe(&back), None)
        .await
        .map_err(|e| format!("cannot check: {e}"))?;
    let (found, can_pin) =
        tx::parse_rollback_probe(&String::from_utf8_lossy(&out.stdout), &back)
            .ok_or_else(|| "cannot check: the host's rollback check did not finish".to_string())?;
    Ok(Probe {
        offered: back
            .iter()
            .zip(found)
            .filter(|(_, ok)| *ok)
            .map(|(t, _)| (t.name().to_string(), t.evr().normalized()))
            .collect(),
        // dnf keeps a package's install reason through an upgrade and a downgrade by itself.
        auto: BTreeSet::new(),
        can_pin,
        steps,
    })
}

async fn deb_probe(
    conn: &Session,
    pins: &[(String, String)],
) -> std::result::Result<Probe, String> {
    let res = async {
        let out = conn
            .run(&crate::pkg::render(&deb::plan_simulate(pins)), None)
            .await
            .map_err(|e| format!("cannot check: {e}"))?;
        if out.exit_status != Some(0) {
            let tail: String = String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| l.starts_with("E:"))
                .take(2)
                .collect::<Vec<_>>()
                .join(" / ");
            return Err(format!(
                "apt cannot plan the transaction (exit {}{}{}): fix apt on the host, then plan again",
                out.exit_status.map(i64::from).unwrap_or(-1),
                if tail.is_empty() { "" } else { ": " },
                tail.chars().take(300).collect::<String>()
            ));
        }
        let steps = deb::parse_simulation(&String::from_utf8_lossy(&out.stdout))
            .map_err(|e| format!("cannot read the transaction apt planned ({e})"))?;
        let out = conn
            .run(&deb::rollback_probe(&steps), None)
            .await
            .map_err(|e| format!("cannot check: {e}"))?;
        let found = deb::parse_rollback_probe(&String::from_utf8_lossy(&out.stdout))
            .ok_or_else(|| "cannot check: the host's rollback check did not finish".to_string())?;
        Ok(Probe {
            offered: found.offered,
            auto: found.auto,
            can_pin: found.can_pin,
            steps,
        })
    }
    .await;
    res
}

/// The hosts a plan names (`req.hosts`, a selection), checked: each is in the inventory, and in
/// the scope when one is given. `None`: every host of the scope.
fn selection(
    inv: &Inventory,
    req: &PlanRequest,
    scope_is_group: bool,
) -> Result<Option<BTreeSet<String>>> {
    if req.hosts.is_empty() {
        return Ok(None);
    }
    let mut out = BTreeSet::new();
    for h in &req.hosts {
        let spec = inv.host(h.trim())?.spec;
        let inside = req.scope.is_empty()
            || if scope_is_group {
                spec.groups.contains(&req.scope)
            } else {
                spec.name == req.scope
            };
        if !inside {
            return Err(Error::Invalid(format!(
                "host {:?} is not in {} {:?}: leave it out, or plan the selected hosts without a scope",
                spec.name,
                if scope_is_group { "group" } else { "host" },
                req.scope
            )));
        }
        out.insert(spec.name);
    }
    Ok(Some(out))
}

/// How a deployment to a selection of hosts names its scope: "3 hosts: a, b, c" (the first
/// five names, then "…").
fn selection_label(hosts: &BTreeSet<String>) -> String {
    let first: Vec<&str> = hosts.iter().take(5).map(String::as_str).collect();
    let more = if hosts.len() > first.len() {
        ", …"
    } else {
        ""
    };
    let noun = if hosts.len() == 1 { "host" } else { "hosts" };
    format!("{} {noun}: {}{more}", hosts.len(), first.join(", "))
}

/// Plan a deployment. Needs SSH: the transaction of every host is simulated on the host, and
/// the rollback path of each package in it checked there (is the exact current version still
/// offered by its repositories, i.e. can it be downgraded to or reinstalled?).
pub async fn plan(inv: &mut Inventory, req: &PlanRequest, ssh: &SshOptions) -> Result<Plan> {
    if req.name.trim().is_empty() {
        return Err(Error::Invalid("give the deployment a name".into()));
    }
    // The scope is a group, or else one host; or none, when the hosts are named (a selection).
    let scope_is_group = if req.scope.is_empty() && !req.hosts.is_empty() {
        false
    } else {
        crate::host::validate_label(&req.scope).map_err(Error::Invalid)?;
        let is_group = inv.groups()?.iter().any(|(g, _)| g == &req.scope);
        if !is_group {
            match inv.host(&req.scope) {
                Ok(_) => {}
                Err(Error::UnknownHost(_)) => {
                    return Err(DeployError::UnknownScope(req.scope.clone()).into())
                }
                Err(e) => return Err(e),
            }
        }
        is_group
    };
    let selected = selection(inv, req, scope_is_group)?;
    // From here on the request's scope is what the deployment records: a selection without a
    // scope is named by its hosts (never a group's or a host's name: it has a space).
    let owned;
    let req = match &selected {
        Some(sel) if req.scope.is_empty() => {
            owned = PlanRequest {
                scope: selection_label(sel),
                ..req.clone()
            };
            &owned
        }
        _ => req,
    };
    if let Some(c) = req.cves.iter().find(|c| !super::selection::valid_cve(c)) {
        return Err(Error::Invalid(format!(
            "{c:?} is not a CVE id (CVE-2026-12345)"
        )));
    }
    // Plan smoke tests run on every host like a group's: the same rule.
    let plan_smoke = super::hooks::validate_smoke(&req.smoke)?;
    if !(0..=168).contains(&req.canary_soak_hours) {
        return Err(Error::Invalid(
            "the canary soak must be between 0 and 168 hours".into(),
        ));
    }
    if req.waves.is_empty()
        || req.waves.iter().any(|w| *w == 0 || *w > 100)
        || req.waves.windows(2).any(|w| w[0] >= w[1])
        || req.waves.last() != Some(&100)
    {
        return Err(Error::Invalid(
            "waves are rising percentages ending at 100, e.g. 5,25,50,100".into(),
        ));
    }
    let items = classify::patches(
        inv,
        &PatchFilter {
            bucket: req.bucket,
            group: scope_is_group.then(|| req.scope.clone()),
            host: (!scope_is_group && selected.is_none()).then(|| req.scope.clone()),
            ..PatchFilter::default()
        },
    )?;
    let items: Vec<_> = items
        .into_iter()
        .filter(|p| selected.as_ref().is_none_or(|s| s.contains(&p.host)))
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
            "nothing to deploy: no pending update in {} {:?} matches the selection (a rescan shows what is pending)",
            match (selected.is_some(), scope_is_group) {
                (true, _) => "the hosts",
                (false, true) => "group",
                (false, false) => "host",
            },
            req.scope
        )));
    }
    let mut targets = Vec::new();
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for p in &items {
        let fam = match families.get(&p.host) {
            Some(f) => *f,
            None => {
                let f = super::manager::family(inv, &inv.host(&p.host)?)?;
                families.insert(p.host.clone(), f);
                f
            }
        };
        let usable = match fam {
            Family::Deb => {
                valid_package(&p.package)
                    && p.candidate_version.parse::<Version>().is_ok()
                    && p.installed_version.parse::<Version>().is_ok()
            }
            Family::Rpm => {
                crate::pkg::rpm::parse::valid_name(&p.package)
                    && p.candidate_version.parse::<crate::pkg::rpm::Evr>().is_ok()
                    && p.installed_version.parse::<crate::pkg::rpm::Evr>().is_ok()
            }
        };
        if !usable {
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
    let mut guards = Vec::new();
    let mut warnings = Vec::new();

    // The whole transaction of each host, and a rollback path for each of its packages.
    let mut rollback = Vec::new();
    let mut transaction: Vec<Change> = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    // As many hosts probed at once as a scan connects to (Settings: concurrency).
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(
        crate::settings::Settings::load(inv)?.concurrency.max(1),
    ));
    for h in &hosts {
        let rec = records[h].clone();
        let pins: Vec<(String, String)> = targets
            .iter()
            .filter(|t| &t.host == h)
            .map(|t| (t.package.clone(), t.to_version.clone()))
            .collect();
        let ssh = ssh.clone();
        let limit = limit.clone();
        let fam = families.get(h).copied().unwrap_or(Family::Deb);
        set.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let res = probe(&rec, fam, &pins, &ssh).await;
            (rec.spec.name.clone(), pins, res)
        });
    }
    let mut removals = Vec::new();
    while let Some(j) = set.join_next().await {
        let Ok((host, pins, res)) = j else { continue };
        let path = match res {
            Err(e) => RollbackPath {
                host: host.clone(),
                kind: RollbackKind::None,
                ok: false,
                detail: e,
            },
            Ok(probe) => {
                let fam = families.get(&host).copied().unwrap_or(Family::Deb);
                let mut changes: Vec<Change> = probe
                    .steps
                    .iter()
                    .map(|s| {
                        let mut c = Change {
                            host: host.clone(),
                            package: s.package.clone(),
                            kind: Change::kind_of(&s.from, &s.to),
                            from_version: s.from.clone(),
                            to_version: s.to.clone(),
                            requested: pins.iter().any(|(p, _)| p == &s.package),
                            was_auto: probe.auto.contains(&s.package),
                            rollback_ok: true,
                            rollback: String::new(),
                        };
                        c.rollback_ok = match &c.from_version {
                            None => true,
                            Some(v) => probe.offered.contains(&(
                                super::transaction::base_name(&c.package).to_string(),
                                v.clone(),
                            )),
                        };
                        c.rollback = if c.rollback_ok {
                            c.rollback_words()
                        } else {
                            format!(
                                "none: the repositories no longer offer {}",
                                c.from_version.as_deref().unwrap_or_default()
                            )
                        };
                        c
                    })
                    .collect();
                for (p, v) in &pins {
                    match changes.iter().find(|c| &c.package == p) {
                        Some(c) if c.to_version.as_ref() == Some(v) => {}
                        Some(c) => warnings.push(format!(
                            "{host}: {} would take {p} to {} rather than {v}",
                            if fam == Family::Rpm { "dnf" } else { "apt" },
                            c.to_version.as_deref().unwrap_or("removal")
                        )),
                        None => warnings.push(format!(
                            "{host}: {p} {v} is already installed or no longer an upgrade (the last scan is stale: rescan)"
                        )),
                    }
                }
                let removed: Vec<String> = changes
                    .iter()
                    .filter(|c| c.kind == ChangeKind::Remove)
                    .map(|c| c.describe())
                    .collect();
                if !removed.is_empty() {
                    removals.push(format!("{host}: {}", removed.join(", ")));
                }
                let missing: Vec<String> = changes
                    .iter()
                    .filter(|c| !c.rollback_ok)
                    .map(|c| {
                        format!(
                            "{} {}",
                            c.package,
                            c.from_version.as_deref().unwrap_or_default()
                        )
                    })
                    .collect();
                let sep = if fam == Family::Rpm { "-" } else { "=" };
                let mut words: Vec<String> = Vec::new();
                let down: Vec<String> = changes
                    .iter()
                    .filter(|c| c.kind == ChangeKind::Upgrade)
                    .map(|c| {
                        format!(
                            "{}{sep}{}",
                            c.package,
                            c.from_version.as_deref().unwrap_or_default()
                        )
                    })
                    .collect();
                if !down.is_empty() {
                    words.push(format!("downgrade to {}", down.join(" ")));
                }
                let purge: Vec<&str> = changes
                    .iter()
                    .filter(|c| c.kind == ChangeKind::Install)
                    .map(|c| c.package.as_str())
                    .collect();
                if !purge.is_empty() {
                    words.push(format!(
                        "{} {} (installed by the upgrade)",
                        if fam == Family::Rpm {
                            "remove"
                        } else {
                            "purge"
                        },
                        purge.join(" ")
                    ));
                }
                let back: Vec<String> = changes
                    .iter()
                    .filter(|c| c.kind == ChangeKind::Remove)
                    .map(|c| {
                        format!(
                            "{}{sep}{}",
                            c.package,
                            c.from_version.as_deref().unwrap_or_default()
                        )
                    })
                    .collect();
                if !back.is_empty() {
                    words.push(format!(
                        "reinstall {} (removed by the upgrade)",
                        back.join(" ")
                    ));
                }
                let exact = words.join("; ");
                transaction.append(&mut changes);
                if missing.is_empty() && req.pin && probe.can_pin {
                    RollbackPath {
                        host: host.clone(),
                        kind: RollbackKind::Pin,
                        ok: true,
                        detail: match fam {
                            Family::Deb => format!("{exact}, and pin it (apt-mark hold + apt preferences) until `deploy unpin`"),
                            Family::Rpm => format!("{exact}, and pin it (dnf versionlock) until `deploy unpin`"),
                        },
                    }
                } else if missing.is_empty() {
                    if req.pin {
                        warnings.push(match fam {
                            Family::Deb => format!("{host}: cannot pin (no apt-mark or /etc/apt/preferences.d): its rollback only downgrades"),
                            Family::Rpm => format!("{host}: cannot pin (no dnf versionlock: install dnf-plugins-core): its rollback only downgrades"),
                        });
                    }
                    RollbackPath {
                        host: host.clone(),
                        kind: RollbackKind::Downgrade,
                        ok: true,
                        detail: exact,
                    }
                } else {
                    RollbackPath {
                        host: host.clone(),
                        kind: RollbackKind::None,
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
    transaction.sort_by(|a, b| (&a.host, &a.package).cmp(&(&b.host, &b.package)));
    if !removals.is_empty() {
        removals.sort();
        guards.push(Guard {
            code: "removes-packages".into(),
            message: format!(
                "the transaction removes packages ({}): apt would uninstall them to make room for the update (a rollback reinstalls them)",
                removals.join("; ")
            ),
            overridden_by: None,
        });
    }
    rollback.sort_by(|a, b| a.host.cmp(&b.host));
    // A host where apt has nothing to do any more (the scan was stale) is left out.
    let idle: BTreeSet<String> = hosts
        .iter()
        .filter(|h| {
            rollback.iter().any(|r| &r.host == *h && r.ok)
                && !transaction.iter().any(|c| &c.host == *h)
        })
        .cloned()
        .collect();
    if !idle.is_empty() {
        warnings.push(format!(
            "left out, nothing to change there any more (the last scan is stale: rescan): {}",
            idle.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        rollback.retain(|r| !idle.contains(&r.host));
        targets.retain(|t| !idle.contains(&t.host));
    }
    let hosts: BTreeSet<String> = hosts.difference(&idle).cloned().collect();
    if hosts.is_empty() {
        return Err(Error::Invalid(format!(
            "nothing to deploy: what the selection names is already installed in {:?} (the last scan is stale: rescan)",
            req.scope
        )));
    }
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

    // A group snapshot hook is a rollback path of its own where no downgrade is possible.
    if let Some(hook) = snapshot_hook(inv, &req.scope)? {
        for r in rollback.iter_mut().filter(|r| !r.ok) {
            r.kind = RollbackKind::Snapshot;
            r.ok = true;
            r.detail = format!(
                "{}; restore by the {} hook `{}`",
                r.detail, hook.on, hook.restore
            );
            for c in transaction
                .iter_mut()
                .filter(|c| c.host == r.host && !c.rollback_ok)
            {
                c.rollback = format!("{}; the snapshot hook restores it", c.rollback);
            }
        }
        guards.retain(|g| !g.code.starts_with("rollback:"));
    }
    for g in &mut guards {
        if let Some(reason) = req.overrides.get(&g.code).filter(|r| !r.trim().is_empty()) {
            g.overridden_by = Some(reason.clone());
        }
    }
    // No smoke tests named: the scope group's own.
    let smoke = if plan_smoke.is_empty() {
        super::smoke_tests(inv, &req.scope)?
    } else {
        plan_smoke
    };
    let review = super::review::review(inv, req, &stages, &transaction, &smoke)?;
    let mut plan = Plan {
        deployment_id: None,
        smoke,
        stages,
        targets,
        transaction,
        rollback,
        warnings,
        guards,
        review,
    };
    if !plan.blocked().is_empty() {
        return Ok(plan);
    }

    let now = inv.clock().now();
    let smoke = plan.smoke.clone();
    // The health checks as they are now (the scope's, or each host group's): a later change does
    // not move the goalposts of this deployment.
    let mut host_groups: BTreeSet<String> = BTreeSet::new();
    for h in plan.stages.iter().flat_map(|s| &s.hosts) {
        host_groups.extend(inv.host(h)?.spec.groups);
    }
    let checks = super::checks::PlannedChecks::gather(inv, &req.scope, &host_groups)?;
    let checks = serde_json::to_string(&checks).map_err(|e| Error::Invalid(e.to_string()))?;
    let tx = inv.conn_mut().transaction()?;
    let overrides: BTreeMap<&str, &str> = plan
        .guards
        .iter()
        .filter_map(|g| g.overridden_by.as_deref().map(|r| (g.code.as_str(), r)))
        .collect();
    tx.execute(
        "INSERT INTO deployments (name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides, rollback_on_no_go, transaction_planned)
         VALUES (?1, ?2, ?3, ?3, ?10, 0, ?4, ?5, ?6, ?7, ?8, ?9, 1)",
        params![
            req.name.trim(),
            req.scope,
            now,
            if req.auto { Mode::Auto } else { Mode::Manual },
            req.canary_soak_hours * 3600,
            serde_json::to_string(&smoke).unwrap_or_default(),
            serde_json::to_string(&plan.warnings).unwrap_or_default(),
            serde_json::to_string(&overrides).unwrap_or_default(),
            req.rollback_on_no_go,
            DeploymentState::Planned,
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "UPDATE deployments SET health_checks = ?2 WHERE id = ?1",
        params![id, checks],
    )?;
    let host_id = |tx: &rusqlite::Transaction<'_>, name: &str| -> rusqlite::Result<i64> {
        tx.query_row("SELECT id FROM hosts WHERE name = ?1", [name], |r| r.get(0))
    };
    for (i, s) in plan.stages.iter().enumerate() {
        tx.execute("INSERT INTO deployment_stages (deployment_id, idx, name, state) VALUES (?1, ?2, ?3, ?4)", params![id, i as i64, s.name, StageState::Pending])?;
        for h in &s.hosts {
            let hid = host_id(&tx, h)?;
            tx.execute("INSERT INTO deployment_hosts (deployment_id, host_id, stage_idx, state) VALUES (?1, ?2, ?3, ?4)", params![id, hid, i as i64, HostState::Pending])?;
        }
    }
    for t in &plan.targets {
        let hid = host_id(&tx, &t.host)?;
        tx.execute(
            "INSERT INTO deployment_targets (deployment_id, host_id, package, from_version, to_version) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, hid, t.package, t.from_version, t.to_version],
        )?;
    }
    for c in &plan.transaction {
        let hid = host_id(&tx, &c.host)?;
        tx.execute(
            "INSERT INTO deployment_changes (deployment_id, host_id, package, from_version, to_version, requested, was_auto, rollback_ok) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![id, hid, c.package, c.from_version, c.to_version, c.requested, c.was_auto, c.rollback_ok],
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
