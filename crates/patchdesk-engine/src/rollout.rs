//! The deployment state machine: plan (rings, exact versions, recorded and checked rollback
//! paths, anti-pattern guards), stage (apply exactly the planned versions), verify (rescan +
//! health against a baseline), gate (go / no-go with reasons; manual or auto after the soak) and
//! rollback (downgrade to the exact previous versions, verified by a rescan).
//!
//! Owns the `deployments*` and `rollback_paths` tables. Every transition is one transaction, and
//! [`advance`] is a step function over what is stored: run it again after a crash or a restart
//! and it continues exactly where the database says it stopped (a host caught mid-apply is marked
//! for attention and checked with `dpkg --audit` before anything else runs on it). Every command
//! that changes a host is written to the audit log before and after it runs.

use crate::classify::{self, Bucket, PatchFilter};
use crate::error::{Error, HostError, Result};
use crate::host::Environment;
use crate::inventory::{HostRecord, Inventory};
use crate::progress::{Phase, ProgressEvent, ProgressFn};
use crate::scan::{self, ScanOptions};
use crate::ssh::{shell_quote, Connection, SshOptions, Trust};
use crate::version::Version;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use tokio_util::sync::CancellationToken;

/// What to deploy, where, and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PlanRequest {
    pub name: String,
    /// The group (scope) whose hosts are patched.
    pub scope: String,
    /// Only these packages (binary names); empty = every pending update selected by `bucket`.
    pub packages: Vec<String>,
    pub bucket: Option<Bucket>,
    /// Cumulative production waves in percent, e.g. [5, 25, 50, 100].
    pub waves: Vec<u32>,
    pub canary_soak_hours: i64,
    /// Smoke tests: shell commands run on each host after the stage; exit status 0 = pass.
    pub smoke: Vec<String>,
    pub auto: bool,
    /// Guard code → written reason, for guards the user chose to override.
    pub overrides: BTreeMap<String, String>,
    /// Only the scope's non-prod hosts (a rollback drill).
    #[serde(default)]
    pub non_prod_only: bool,
}

impl Default for PlanRequest {
    fn default() -> Self {
        Self {
            name: String::new(),
            scope: String::new(),
            packages: Vec::new(),
            bucket: None,
            waves: vec![5, 25, 50, 100],
            canary_soak_hours: 24,
            smoke: Vec::new(),
            auto: false,
            overrides: BTreeMap::new(),
            non_prod_only: false,
        }
    }
}

/// A group's snapshot hook: commands the user configures, run on the host (over SSH) or on this
/// machine (with `PATCHDESK_HOST` and `PATCHDESK_ADDRESS` set), whose success is required before a
/// host is patched; `restore` is the rollback path when no downgrade is possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SnapshotHook {
    pub snapshot: String,
    pub restore: String,
    /// `host` or `local`.
    pub on: String,
}

const HOOK_PREFIX: &str = "snapshot-hook:";

/// The snapshot hook of a group, if one is configured.
pub fn snapshot_hook(inv: &Inventory, group: &str) -> Result<Option<SnapshotHook>> {
    Ok(inv
        .setting(&format!("{HOOK_PREFIX}{group}"))?
        .and_then(|j| serde_json::from_str(&j).ok()))
}

/// Configure (or with `None`, remove) a group's snapshot hook.
pub fn set_snapshot_hook(inv: &Inventory, group: &str, hook: Option<&SnapshotHook>) -> Result<()> {
    crate::host::validate_label(group).map_err(Error::Invalid)?;
    match hook {
        Some(h) => {
            if h.snapshot.trim().is_empty()
                || h.restore.trim().is_empty()
                || !(h.on == "host" || h.on == "local")
            {
                return Err(Error::Invalid("a snapshot hook needs a snapshot command, a restore command, and where to run them: host or local".into()));
            }
            inv.set_setting(
                &format!("{HOOK_PREFIX}{group}"),
                &serde_json::to_string(h).expect("hook serialises"),
            )
        }
        None => {
            inv.conn().execute(
                "DELETE FROM settings WHERE key = ?1",
                [format!("{HOOK_PREFIX}{group}")],
            )?;
            Ok(())
        }
    }
}

/// A guard that stops the plan unless overridden with a reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Guard {
    pub code: String,
    pub message: String,
    pub overridden_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StagePlan {
    pub name: String,
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RollbackPath {
    pub host: String,
    pub kind: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Target {
    pub host: String,
    pub package: String,
    pub from_version: String,
    pub to_version: String,
}

/// The proposed deployment. Stored (with an id) only when no guard blocks it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Plan {
    pub deployment_id: Option<i64>,
    pub stages: Vec<StagePlan>,
    pub targets: Vec<Target>,
    pub rollback: Vec<RollbackPath>,
    pub warnings: Vec<String>,
    pub guards: Vec<Guard>,
}

impl Plan {
    pub fn blocked(&self) -> Vec<&Guard> {
        self.guards
            .iter()
            .filter(|g| g.overridden_by.is_none())
            .collect()
    }
}

fn valid_package(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// Split production hosts into cumulative waves (at least one host each; empty waves dropped).
pub fn waves(prod: &[String], percents: &[u32]) -> Vec<(String, Vec<String>)> {
    let n = prod.len();
    let mut out = Vec::new();
    let mut done = 0;
    for &p in percents {
        let upto = ((n as f64 * p as f64 / 100.0).ceil() as usize)
            .clamp(1, n.max(1))
            .min(n);
        if upto > done {
            out.push((format!("{p}%"), prod[done..upto].to_vec()));
            done = upto;
        }
    }
    if done < n {
        out.push(("100%".into(), prod[done..].to_vec()));
    }
    out
}

async fn connect(
    host: &HostRecord,
    ssh: &SshOptions,
) -> std::result::Result<Connection, HostError> {
    if host.host_key.is_none() {
        return Err(HostError::Unsupported(
            "its host key is not pinned yet: scan it first (or trust it)".into(),
        ));
    }
    let trust = Trust {
        pinned: host.host_key.clone(),
        accept_fingerprint: None,
    };
    Connection::open(&host.spec, trust, ssh, None).await
}

fn sudo(host: &HostRecord) -> &'static str {
    if host.spec.user == "root" {
        ""
    } else {
        "sudo -n "
    }
}

/// Plan a deployment. Needs SSH: the rollback path of every host is checked on the host
/// (is the exact current version still offered by its repositories, i.e. can it downgrade?).
pub async fn plan(inv: &mut Inventory, req: &PlanRequest, ssh: &SshOptions) -> Result<Plan> {
    if req.name.trim().is_empty() {
        return Err(Error::Invalid("give the deployment a name".into()));
    }
    crate::host::validate_label(&req.scope).map_err(Error::Invalid)?;
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
        .filter(|p| req.packages.is_empty() || req.packages.contains(&p.package))
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
                let out = conn.run(&format!("LC_ALL=C; {cmd}"), None).await;
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
                if missing.is_empty() {
                    RollbackPath {
                        host: host.clone(),
                        kind: "downgrade".into(),
                        ok: true,
                        detail: format!(
                            "downgrade to {}",
                            pkgs.iter()
                                .map(|(p, v)| format!("{p}={v}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
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
    let mut plan = Plan {
        deployment_id: None,
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
    let tx = inv.conn_mut().transaction()?;
    let overrides: BTreeMap<&str, &str> = plan
        .guards
        .iter()
        .filter_map(|g| g.overridden_by.as_deref().map(|r| (g.code.as_str(), r)))
        .collect();
    tx.execute(
        "INSERT INTO deployments (name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides)
         VALUES (?1, ?2, ?3, ?3, 'planned', 0, ?4, ?5, ?6, ?7, ?8)",
        params![
            req.name.trim(),
            req.scope,
            now,
            if req.auto { "auto" } else { "manual" },
            req.canary_soak_hours * 3600,
            serde_json::to_string(&req.smoke).unwrap_or_default(),
            serde_json::to_string(&plan.warnings).unwrap_or_default(),
            serde_json::to_string(&overrides).unwrap_or_default(),
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

/// Health of a host, measured the same way before and after a stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub reachable: bool,
    /// `None`: not available on this host (no systemd), never a fake pass.
    pub failed_units: Option<u32>,
    pub journal_errors: Option<u32>,
    pub reboot_required: bool,
    /// (command, exit status)
    pub smoke: Vec<(String, i64)>,
    pub error: Option<String>,
}

const HEALTH_SCRIPT: &str = r#"export LC_ALL=C
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then echo "failed_units $(systemctl --failed --no-legend --plain 2>/dev/null | wc -l)"; else echo "failed_units na"; fi
if command -v journalctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then echo "journal_errors $(journalctl -p err -b -q --no-pager 2>/dev/null | wc -l)"; else echo "journal_errors na"; fi
if [ -f /run/reboot-required ]; then echo "reboot yes"; else echo "reboot no"; fi
"#;

async fn health(host: &HostRecord, smoke: &[String], ssh: &SshOptions) -> Health {
    let conn = match connect(host, ssh).await {
        Ok(c) => c,
        Err(e) => {
            return Health {
                reachable: false,
                error: Some(e.to_string()),
                ..Default::default()
            }
        }
    };
    let mut h = Health {
        reachable: true,
        ..Default::default()
    };
    match conn.run("sh -s", Some(HEALTH_SCRIPT.as_bytes())).await {
        Ok(out) => {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let mut it = line.split_whitespace();
                match (it.next(), it.next()) {
                    (Some("failed_units"), Some(v)) => h.failed_units = v.parse().ok(),
                    (Some("journal_errors"), Some(v)) => h.journal_errors = v.parse().ok(),
                    (Some("reboot"), Some(v)) => h.reboot_required = v == "yes",
                    _ => {}
                }
            }
        }
        Err(e) => h.error = Some(e.to_string()),
    }
    for cmd in smoke {
        let status = match conn.run(&format!("sh -c {}", shell_quote(cmd)), None).await {
            Ok(o) => o.exit_status.map(i64::from).unwrap_or(-1),
            Err(_) => -1,
        };
        h.smoke.push((cmd.clone(), status));
    }
    conn.close().await;
    h
}

fn digest(b: &[u8]) -> String {
    hex::encode(&Sha256::digest(b)[..12])
}

/// Run one changing command on a host, audited before and after.
async fn run_audited(
    inv: &mut Inventory,
    host: &HostRecord,
    action: &str,
    command: &str,
    ssh: &SshOptions,
) -> std::result::Result<(), String> {
    let _ = inv.audit(
        "patchdesk",
        Some(&host.spec.name),
        action,
        "before",
        Some(command),
        None,
        None,
        None,
    );
    let res = async {
        let conn = connect(host, ssh).await.map_err(|e| e.to_string())?;
        let out = conn.run(command, None).await.map_err(|e| e.to_string());
        conn.close().await;
        out
    }
    .await;
    match res {
        Ok(out) => {
            let status = out.exit_status.map(i64::from).unwrap_or(-1);
            let mut all = out.stdout.clone();
            all.extend_from_slice(&out.stderr);
            let _ = inv.audit(
                "patchdesk",
                Some(&host.spec.name),
                action,
                "after",
                Some(command),
                Some(status),
                Some(&digest(&all)),
                None,
            );
            if status == 0 {
                Ok(())
            } else {
                let tail: String = String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" / ");
                Err(format!("exit status {status}: {tail}"))
            }
        }
        Err(e) => {
            let _ = inv.audit(
                "patchdesk",
                Some(&host.spec.name),
                action,
                "after",
                Some(command),
                None,
                None,
                Some(&e),
            );
            Err(e)
        }
    }
}

/// Run a group's snapshot or restore hook for one host, audited like any change.
async fn run_hook(
    inv: &mut Inventory,
    host: &HostRecord,
    hook: &SnapshotHook,
    which: &str,
    ssh: &SshOptions,
) -> std::result::Result<(), String> {
    let cmd = if which == "snapshot" {
        &hook.snapshot
    } else {
        &hook.restore
    };
    if hook.on == "host" {
        return run_audited(
            inv,
            host,
            which,
            &format!("{}sh -c {}", sudo(host), shell_quote(cmd)),
            ssh,
        )
        .await;
    }
    let name = host.spec.name.clone();
    let _ = inv.audit(
        "patchdesk",
        Some(&name),
        which,
        "before",
        Some(cmd),
        None,
        None,
        Some("local hook"),
    );
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("PATCHDESK_HOST", &name)
        .env("PATCHDESK_ADDRESS", &host.spec.address)
        .output()
        .await;
    match out {
        Ok(o) => {
            let mut all = o.stdout.clone();
            all.extend_from_slice(&o.stderr);
            let status = i64::from(o.status.code().unwrap_or(-1));
            let _ = inv.audit(
                "patchdesk",
                Some(&name),
                which,
                "after",
                Some(cmd),
                Some(status),
                Some(&digest(&all)),
                Some("local hook"),
            );
            if status == 0 {
                Ok(())
            } else {
                Err(format!(
                    "the {which} hook exited with status {status}: {}",
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                ))
            }
        }
        Err(e) => {
            let _ = inv.audit(
                "patchdesk",
                Some(&name),
                which,
                "after",
                Some(cmd),
                None,
                None,
                Some(&e.to_string()),
            );
            Err(format!("the {which} hook could not start: {e}"))
        }
    }
}

fn scope_of(inv: &Inventory, id: i64) -> Result<String> {
    Ok(inv
        .conn()
        .query_row("SELECT scope FROM deployments WHERE id = ?1", [id], |r| {
            r.get(0)
        })?)
}

fn rollback_kind(inv: &Inventory, id: i64, host: &HostRecord) -> Result<String> {
    Ok(inv
        .conn()
        .query_row(
            "SELECT kind FROM rollback_paths WHERE deployment_id = ?1 AND host_id = ?2",
            params![id, host.id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| "downgrade".into()))
}

fn apt_command(host: &HostRecord, pins: &[(String, String)], downgrade: bool) -> String {
    let pkgs = pins
        .iter()
        .map(|(p, v)| shell_quote(&format!("{p}={v}")))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q {} -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300 {pkgs}",
        sudo(host),
        if downgrade { "--allow-downgrades" } else { "--only-upgrade" }
    )
}

/// Where a deployment is, for the CLI and the UI.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DeploymentStatus {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub state: String,
    pub mode: String,
    pub current_stage: i64,
    pub stages: Vec<StageStatus>,
    pub warnings: Vec<String>,
    pub overrides: BTreeMap<String, String>,
    /// What the deployment waits for, in words.
    pub waiting_for: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StageStatus {
    pub idx: i64,
    pub name: String,
    pub state: String,
    pub soak_until: Option<DateTime<Utc>>,
    pub soak_seconds_left: Option<i64>,
    /// The engine's recommendation at the gate, and the decision taken.
    pub healthy: Option<bool>,
    pub decision: Option<String>,
    pub reasons: Vec<String>,
    pub hosts: Vec<HostStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostStatus {
    pub host: String,
    pub state: String,
    pub error: Option<String>,
}

pub fn status(inv: &Inventory, id: i64) -> Result<DeploymentStatus> {
    let now = inv.clock().now();
    let row = inv
        .conn()
        .query_row(
            "SELECT name, scope, state, mode, current_stage, warnings, overrides FROM deployments WHERE id = ?1",
            [id],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?, r.get::<_, String>(5)?, r.get::<_, String>(6)?)),
        )
        .optional()?
        .ok_or_else(|| Error::Invalid(format!("no deployment {id}; `patchdesk deploy list` shows them")))?;
    let mut stmt = inv.conn().prepare("SELECT idx, name, state, soak_until, decision, reasons FROM deployment_stages WHERE deployment_id = ?1 ORDER BY idx")?;
    let mut stages = stmt
        .query_map([id], |r| {
            let soak_until: Option<DateTime<Utc>> = r.get(3)?;
            let reasons: Vec<String> = r
                .get::<_, Option<String>>(5)?
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default();
            Ok(StageStatus {
                idx: r.get(0)?,
                name: r.get(1)?,
                state: r.get(2)?,
                soak_until,
                soak_seconds_left: soak_until.map(|u| (u - now).num_seconds()),
                healthy: None,
                decision: r.get(4)?,
                reasons,
                hosts: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut hs = inv.conn().prepare(
        "SELECT h.name, d.state, d.error FROM deployment_hosts d JOIN hosts h ON h.id = d.host_id WHERE d.deployment_id = ?1 AND d.stage_idx = ?2 ORDER BY h.name",
    )?;
    for s in &mut stages {
        s.hosts = hs
            .query_map(params![id, s.idx], |r| {
                Ok(HostStatus {
                    host: r.get(0)?,
                    state: r.get(1)?,
                    error: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if s.state == "gate" || s.decision.is_some() {
            s.healthy = Some(s.reasons.iter().all(|r| !r.starts_with("NO-GO")));
        }
    }
    let (name, scope, state, mode, current_stage, warnings, overrides) = row;
    let waiting_for = if state == "running" || state == "planned" {
        stages
            .get(current_stage as usize)
            .and_then(|s| match s.state.as_str() {
                "soaking" => Some(format!(
                    "the {} soak ({} left)",
                    s.name,
                    s.soak_seconds_left
                        .map(|x| format!("{}h {}m", x / 3600, (x % 3600) / 60))
                        .unwrap_or_default()
                )),
                "gate" if mode == "manual" => {
                    Some(format!("your go / no-go on the {} gate", s.name))
                }
                _ => None,
            })
    } else {
        None
    };
    Ok(DeploymentStatus {
        id,
        name,
        scope,
        state,
        mode,
        current_stage,
        stages,
        warnings: serde_json::from_str(&warnings).unwrap_or_default(),
        overrides: serde_json::from_str(&overrides).unwrap_or_default(),
        waiting_for,
    })
}

/// All deployments, newest first.
pub fn list(inv: &Inventory) -> Result<Vec<DeploymentStatus>> {
    let ids: Vec<i64> = inv
        .conn()
        .prepare("SELECT id FROM deployments ORDER BY id DESC")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter().map(|id| status(inv, id)).collect()
}

fn stage_hosts(inv: &Inventory, id: i64, idx: i64) -> Result<Vec<(HostRecord, String)>> {
    let names: Vec<(String, String)> = inv
        .conn()
        .prepare("SELECT h.name, d.state FROM deployment_hosts d JOIN hosts h ON h.id = d.host_id WHERE d.deployment_id = ?1 AND d.stage_idx = ?2 ORDER BY h.name")?
        .query_map(params![id, idx], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    names
        .into_iter()
        .map(|(n, s)| Ok((inv.host(&n)?, s)))
        .collect()
}

fn targets_of(
    inv: &Inventory,
    id: i64,
    host: &HostRecord,
) -> Result<Vec<(String, String, String)>> {
    Ok(inv
        .conn()
        .prepare("SELECT package, from_version, to_version FROM deployment_targets WHERE deployment_id = ?1 AND host_id = ?2 ORDER BY package")?
        .query_map(params![id, host.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// A full rescan of some hosts: what verification and rollback trust, never the apply's exit code.
async fn rescan(inv: &mut Inventory, names: &[String], ssh: &SshOptions) -> Result<()> {
    let opts = ScanOptions {
        ssh: ssh.clone(),
        full: true,
        ..ScanOptions::default()
    };
    scan::scan_hosts(
        inv,
        names,
        &opts,
        crate::progress::silent(),
        CancellationToken::new(),
    )
    .await?;
    Ok(())
}

/// Installed package versions of a host, by its last scan.
fn installed_versions(inv: &Inventory, host: &str) -> Result<BTreeMap<String, String>> {
    Ok(inv
        .host_detail(host)?
        .packages
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect())
}

fn set_host(
    inv: &Inventory,
    id: i64,
    host: &HostRecord,
    state: &str,
    error: Option<&str>,
) -> Result<()> {
    inv.conn().execute(
        "UPDATE deployment_hosts SET state = ?3, error = ?4 WHERE deployment_id = ?1 AND host_id = ?2",
        params![id, host.id, state, error],
    )?;
    Ok(())
}

fn emit(progress: &ProgressFn, host: Option<&str>, phase: Phase, message: String) {
    progress(&ProgressEvent {
        job: "deploy",
        host: host.map(str::to_string),
        phase,
        done: 0,
        total: 0,
        message,
    });
}

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
            "pending" => apply_stage(inv, id, idx, &smoke, ssh, &progress).await?,
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
                if st.mode == "auto" {
                    decide(inv, id, healthy, "auto")?;
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
        match run_audited(inv, &host, "apply", &apt_command(&host, &pins, false), ssh).await {
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
        let installed = installed_versions(inv, name)?;
        for (pkg, _from, to) in targets_of(inv, id, host)? {
            match installed.get(&pkg) {
                Some(v) if *v == to => {}
                other => reasons.push(format!(
                    "NO-GO {name}: {pkg} {to} is not installed (has {})",
                    other.map(String::as_str).unwrap_or("none")
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

/// The last rollback drill of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DrillStatus {
    pub group: String,
    pub last_at: DateTime<Utc>,
    pub ok: bool,
    pub deployment_id: i64,
    pub age_days: i64,
    /// Older than 90 days: practise rollback at least quarterly.
    pub overdue: bool,
}

const DRILL_PREFIX: &str = "drill:";

/// A rollback drill: apply the plan on the scope's non-prod hosts only, verify, roll back, verify
/// again, and record the date and the result for the group.
pub async fn drill(
    inv: &mut Inventory,
    req: &PlanRequest,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DrillStatus> {
    let mut r = req.clone();
    r.non_prod_only = true;
    r.auto = true;
    r.canary_soak_hours = 0;
    r.name = format!("drill: {}", req.name);
    // A drill never touches production; the single-stage guard does not apply to it.
    r.overrides
        .entry("single-stage".into())
        .or_insert_with(|| "drill on non-prod only".into());
    let plan = plan(inv, &r, ssh).await?;
    let Some(id) = plan.deployment_id else {
        let blocked: Vec<String> = plan.blocked().iter().map(|g| g.message.clone()).collect();
        return Err(Error::Invalid(format!(
            "the drill cannot start: {}",
            blocked.join("; ")
        )));
    };
    let applied = advance(inv, id, ssh, progress.clone()).await?;
    let rolled = rollback(inv, id, &[], ssh, progress).await?;
    let ok = applied.state == "finished" && rolled.state == "rolled-back";
    let now = inv.clock().now();
    let st = DrillStatus {
        group: req.scope.clone(),
        last_at: now,
        ok,
        deployment_id: id,
        age_days: 0,
        overdue: false,
    };
    inv.set_setting(
        &format!("{DRILL_PREFIX}{}", req.scope),
        &serde_json::to_string(&st).expect("drill serialises"),
    )?;
    inv.audit(
        "user",
        None,
        "rollback-drill",
        "note",
        None,
        None,
        None,
        Some(&format!(
            "group {} deployment {id}: {}",
            req.scope,
            if ok { "ok" } else { "FAILED" }
        )),
    )?;
    Ok(st)
}

/// The last drill of every group that has hosts (groups never drilled are listed as overdue
/// with `last_at` at the epoch).
pub fn drills(inv: &Inventory) -> Result<Vec<DrillStatus>> {
    let now = inv.clock().now();
    let mut out = Vec::new();
    for (group, _) in inv.groups()? {
        let mut st: DrillStatus = match inv
            .setting(&format!("{DRILL_PREFIX}{group}"))?
            .and_then(|j| serde_json::from_str(&j).ok())
        {
            Some(s) => s,
            None => DrillStatus {
                group: group.clone(),
                last_at: DateTime::<Utc>::UNIX_EPOCH,
                ok: false,
                deployment_id: 0,
                age_days: i64::MAX / 2,
                overdue: true,
            },
        };
        if st.deployment_id != 0 {
            st.age_days = (now - st.last_at).num_days();
            st.overdue = st.age_days > 90 || !st.ok;
        }
        out.push(st);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i:02}")).collect()
    }

    #[test]
    fn waves_are_cumulative_with_at_least_one_host() {
        let w = waves(&hosts(40), &[5, 25, 50, 100]);
        let sizes: Vec<usize> = w.iter().map(|(_, h)| h.len()).collect();
        assert_eq!(sizes, [2, 8, 10, 20]);
        let w = waves(&hosts(2), &[5, 25, 50, 100]);
        assert_eq!(
            w.iter()
                .map(|(n, h)| (n.as_str(), h.len()))
                .collect::<Vec<_>>(),
            [("5%", 1), ("100%", 1)]
        );
        let w = waves(&hosts(1), &[5, 25, 50, 100]);
        assert_eq!(w.len(), 1);
        assert!(waves(&[], &[5, 100]).is_empty());
        let all: Vec<String> = waves(&hosts(37), &[5, 25, 50, 100])
            .into_iter()
            .flat_map(|(_, h)| h)
            .collect();
        assert_eq!(all, hosts(37), "every host exactly once, in order");
    }

    #[test]
    fn apt_commands_quote_every_value() {
        let mut rec = HostRecord {
            id: 1,
            spec: crate::host::HostSpec::new("a", "127.0.0.1"),
            host_key: None,
            host_key_fingerprint: None,
            host_key_source: None,
        };
        let c = apt_command(&rec, &[("pd-hello".into(), "1:2.0~rc1-1".into())], false);
        assert!(c.ends_with("'pd-hello=1:2.0~rc1-1'"), "{c}");
        assert!(
            c.contains("--only-upgrade")
                && c.contains("--force-confold")
                && c.contains("DPkg::Lock::Timeout")
        );
        rec.spec.user = "ops".into();
        assert!(apt_command(&rec, &[("x1".into(), "1".into())], true).starts_with("sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades"));
    }
}
