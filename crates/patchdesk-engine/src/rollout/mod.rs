//! The deployment state machine: plan (rings, the whole apt transaction of every host with exact
//! versions, recorded and checked rollback paths for each of its packages, anti-pattern guards),
//! stage (apply exactly the planned transaction), verify (rescan + health against a baseline),
//! gate (go / no-go with reasons; manual or auto after the soak; a go over a no-go only as a
//! recorded override) and rollback (the whole transaction back to the exact previous state,
//! verified by a rescan).
//!
//! Owns the `deployments*` and `rollback_paths` tables. Every transition is one transaction, and
//! [`advance`] is a step function over what is stored: run it again after a crash or a restart
//! and it continues exactly where the database says it stopped (a host caught mid-apply waits for
//! any dpkg still running there, is checked with `dpkg --audit` and its versions, and the open
//! audit record is closed with the outcome). Every command that changes a host is written to the
//! audit log before and after it runs. States, modes, rollback kinds and gate verdicts are the
//! enums of `state` (stored by name), never string literals. Must not parse scan output or touch
//! other modules' tables.

use crate::classify::{self, Bucket, PatchFilter};
use crate::error::{Error, HostError, Result};
use crate::host::Environment;
use crate::inventory::{HostRecord, Inventory};
use crate::progress::{Phase, ProgressEvent, ProgressFn};
use crate::scan::{self, ScanOptions};
use crate::ssh::{shell_quote, Session, SshOptions, Trust};
use crate::version::Version;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use tokio_util::sync::CancellationToken;

mod ansible;
mod checks;
mod drill;
mod errors;
mod hooks;
mod lease;
mod manager;
mod parallel;
mod plan;
mod reboot;
mod remote;
mod review;
mod rollback;
mod run;
mod selection;
mod state;
mod transaction;
mod window;

pub use ansible::{export_ansible, AnsibleExport};
pub use checks::{
    all_health_checks, health_checks, judge, set_health_checks, AlertCheck, CheckKind, CheckResult,
    CheckStatus, HealthChecks, HttpCheck, LogCheck, Measurement, PromCheck, RebootPolicy,
    ServiceCheck,
};
pub use drill::{drill, drills, DrillStatus};
pub use errors::DeployError;
pub use hooks::{
    group_settings, set_smoke_tests, set_snapshot_hook, smoke_tests, snapshot_hook, GroupSettings,
    SnapshotHook,
};
pub use lease::{holder, LeaseHolder, OnBusy};
use parallel::Db;
pub use plan::plan;
pub use reboot::{at_gate as reboot_at_gate, RebootState};
pub use remote::Health;
use remote::{
    apply_timeout, close_interrupted, connect, detached, health, installed_packages, rescan,
    run_audited, run_hook, sudo, ChangeError,
};
pub use review::{LeftOut, PlanReview, RebootForecast, StageChecks};
pub use rollback::{rollback, unpin};
pub use run::{advance, delete_planned, exclude, go, no_go};
pub use selection::{delete_selection, save_selection, selection, selections, Selection};
pub use state::{
    verdict, DeploymentState, GateReason, GateVerdict, HostState, Mode, Operation, RollbackKind,
    StageState,
};
use transaction::Direction;
pub use transaction::{Change, ChangeKind};
pub use window::{maintenance_window, maintenance_windows, set_maintenance_window};

/// What to deploy, where, and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PlanRequest {
    pub name: String,
    /// The group (scope) whose hosts are patched, or one host. May be empty when `hosts` names
    /// the hosts: the deployment's scope is then that selection.
    pub scope: String,
    /// Only these hosts (a selection: rows picked in Hosts, the hosts an update is pending on);
    /// empty = every host of `scope`. Each must be in `scope` when one is given.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Only these packages (binary names) and/or the updates fixing these CVEs; both empty =
    /// every pending update selected by `bucket`.
    pub packages: Vec<String>,
    #[serde(default)]
    pub cves: Vec<String>,
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
    /// Roll back by downgrading *and pinning* the previous versions (apt-mark hold + an apt
    /// preferences file), so no later upgrade reinstalls the bad version until `deploy unpin`.
    #[serde(default)]
    pub pin: bool,
    /// On a no-go, roll back the hosts of the failed stage at once instead of waiting for you.
    #[serde(default)]
    pub rollback_on_no_go: bool,
}

impl Default for PlanRequest {
    fn default() -> Self {
        Self {
            name: String::new(),
            scope: String::new(),
            hosts: Vec::new(),
            packages: Vec::new(),
            cves: Vec::new(),
            bucket: None,
            waves: vec![5, 25, 50, 100],
            canary_soak_hours: 24,
            smoke: Vec::new(),
            auto: false,
            overrides: BTreeMap::new(),
            non_prod_only: false,
            pin: false,
            rollback_on_no_go: false,
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
    pub kind: RollbackKind,
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
    /// The smoke tests each host runs after its stage (the plan's, else the scope group's).
    pub smoke: Vec<String>,
    pub stages: Vec<StagePlan>,
    /// The packages named by the selection, per host.
    pub targets: Vec<Target>,
    /// The whole apt transaction of every host (what `apt-get -s` said the targets would
    /// change: upgrades, new installs, removals), each package with its rollback path.
    pub transaction: Vec<Change>,
    pub rollback: Vec<RollbackPath>,
    pub warnings: Vec<String>,
    pub guards: Vec<Guard>,
    /// Hosts left out and why, reboots, timeline, the checks of each stage's gate.
    pub review: PlanReview,
}

impl Plan {
    pub fn blocked(&self) -> Vec<&Guard> {
        self.guards
            .iter()
            .filter(|g| g.overridden_by.is_none())
            .collect()
    }
}

pub(super) fn valid_package(s: &str) -> bool {
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

pub(super) fn scope_of(inv: &Inventory, id: i64) -> Result<String> {
    Ok(inv
        .conn()
        .query_row("SELECT scope FROM deployments WHERE id = ?1", [id], |r| {
            r.get(0)
        })?)
}

pub(super) fn rollback_kind(inv: &Inventory, id: i64, host: &HostRecord) -> Result<RollbackKind> {
    Ok(inv
        .conn()
        .query_row(
            "SELECT kind FROM rollback_paths WHERE deployment_id = ?1 AND host_id = ?2",
            params![id, host.id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(RollbackKind::Downgrade))
}

/// Where a deployment is, for the CLI and the UI.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DeploymentStatus {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub state: DeploymentState,
    pub mode: Mode,
    pub current_stage: i64,
    pub stages: Vec<StageStatus>,
    pub warnings: Vec<String>,
    pub overrides: BTreeMap<String, String>,
    /// What the deployment waits for, in words.
    pub waiting_for: Option<String>,
    /// A no-go rolls back the failed stage's hosts at once.
    pub rollback_on_no_go: bool,
    /// The process changing it right now (its lease), if any.
    pub held_by: Option<LeaseHolder>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StageStatus {
    pub idx: i64,
    pub name: String,
    pub state: StageState,
    pub soak_until: Option<DateTime<Utc>>,
    pub soak_seconds_left: Option<i64>,
    /// The engine's verdict at the gate (from `reasons`), and the decision taken.
    pub verdict: Option<GateVerdict>,
    pub decision: Option<GateVerdict>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The reason written with the decision (a no-go always has one).
    pub decision_reason: Option<String>,
    /// A go given at a gate the engine judged no-go: the written reason.
    pub override_reason: Option<String>,
    pub reasons: Vec<GateReason>,
    pub hosts: Vec<HostStatus>,
    /// The stage waits for a closed maintenance window that opens then.
    pub window_opens_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostStatus {
    pub host: String,
    pub state: HostState,
    pub error: Option<String>,
    /// A pin rollback holds the previous versions on this host (until `deploy unpin`).
    pub pinned: bool,
    /// What it is doing right now when worth saying, e.g. waiting for the dpkg lock.
    pub note: Option<String>,
    /// Left out of the rest of the deployment: the written reason.
    pub excluded: Option<String>,
    /// Its planned transaction.
    pub changes: Vec<Change>,
    /// Its checklist at the stage's gate: every check with its value beside the baseline.
    pub checks: Vec<CheckResult>,
}

/// Where a deployment is, as of now: a soak that has ended is a gate waiting for its decision
/// (health is measured again before the decision is applied), and no countdown is negative.
pub fn status(inv: &Inventory, id: i64) -> Result<DeploymentStatus> {
    load_status(inv, id, true, true)
}

/// The stored state, for the state machine itself (a soak that has ended is still `soaking`
/// until its end-of-soak check has run).
pub(super) fn stored_status(inv: &Inventory, id: i64) -> Result<DeploymentStatus> {
    load_status(inv, id, false, false)
}

/// `3h 5m`, never negative.
pub(super) fn hours_minutes(secs: i64) -> String {
    let x = secs.max(0);
    format!("{}h {}m", x / 3600, (x % 3600) / 60)
}

/// `with_changes`: each host's planned transaction too (the detail view; lists and the state
/// machine do without).
fn load_status(
    inv: &Inventory,
    id: i64,
    as_of_now: bool,
    with_changes: bool,
) -> Result<DeploymentStatus> {
    load_statuses(inv, Some(id), as_of_now, with_changes)?
        .pop()
        .ok_or(DeployError::UnknownDeployment(id).into())
}

/// The stored row of a deployment, as [`load_statuses`] reads it.
type DeploymentRow = (
    String,
    String,
    DeploymentState,
    Mode,
    i64,
    String,
    String,
    bool,
);

/// One deployment (`only`) or all of them, newest first: a fixed number of queries whatever the
/// number of deployments, stages and hosts (a list never asks per deployment or per host).
fn load_statuses(
    inv: &Inventory,
    only: Option<i64>,
    as_of_now: bool,
    with_changes: bool,
) -> Result<Vec<DeploymentStatus>> {
    let now = inv.clock().now();
    let rows: Vec<(i64, DeploymentRow, bool)> = inv
        .conn()
        .prepare_cached(
            "SELECT id, name, scope, state, mode, current_stage, warnings, overrides, rollback_on_no_go, transaction_planned
             FROM deployments WHERE ?1 IS NULL OR id = ?1 ORDER BY id DESC",
        )?
        .query_map([only], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                (
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, DeploymentState>(3)?,
                    r.get::<_, Mode>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, bool>(8)?,
                ),
                r.get::<_, bool>(9)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stages_of: HashMap<i64, Vec<StageStatus>> = HashMap::new();
    let mut stmt = inv.conn().prepare_cached("SELECT deployment_id, idx, name, state, soak_until, decision, reasons, decided_by, override_reason, decided_at, decision_reason FROM deployment_stages WHERE ?1 IS NULL OR deployment_id = ?1 ORDER BY deployment_id, idx")?;
    let stage_rows = stmt
        .query_map([only], |r| {
            let soak_until: Option<DateTime<Utc>> = r.get(4)?;
            let reasons = reasons_of(r.get::<_, Option<String>>(6)?.as_deref());
            Ok((
                r.get::<_, i64>(0)?,
                StageStatus {
                    idx: r.get(1)?,
                    name: r.get(2)?,
                    state: r.get(3)?,
                    soak_until,
                    soak_seconds_left: soak_until.map(|u| (u - now).num_seconds().max(0)),
                    verdict: None,
                    decision: r.get(5)?,
                    decided_by: r.get(7)?,
                    decided_at: r.get(9)?,
                    decision_reason: r.get(10)?,
                    override_reason: r.get(8)?,
                    reasons,
                    hosts: Vec::new(),
                    window_opens_at: None,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, st) in stage_rows {
        stages_of.entry(id).or_default().push(st);
    }
    let planned_of: HashMap<i64, bool> = rows.iter().map(|(id, _, p)| (*id, *p)).collect();
    let mut hs = inv.conn().prepare_cached(
        "SELECT h.name, d.state, d.error, d.pinned, d.note, d.excluded_reason, h.id, d.checks, d.deployment_id, d.stage_idx
         FROM deployment_hosts d JOIN hosts h ON h.id = d.host_id
         WHERE ?1 IS NULL OR d.deployment_id = ?1 ORDER BY h.name",
    )?;
    let host_rows = hs
        .query_map([only], |r| {
            Ok((
                HostStatus {
                    host: r.get(0)?,
                    state: r.get(1)?,
                    error: r.get(2)?,
                    pinned: r.get(3)?,
                    note: r.get(4)?,
                    excluded: r.get(5)?,
                    changes: Vec::new(),
                    checks: r
                        .get::<_, Option<String>>(7)?
                        .and_then(|j| serde_json::from_str(&j).ok())
                        .unwrap_or_default(),
                },
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(8)?,
                r.get::<_, i64>(9)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (mut h, host_id, id, idx) in host_rows {
        let Some(s) = stages_of
            .get_mut(&id)
            .and_then(|v| v.iter_mut().find(|s| s.idx == idx))
        else {
            continue;
        };
        if with_changes {
            h.changes = changes_by_id(
                inv,
                id,
                host_id,
                &h.host,
                planned_of.get(&id).copied().unwrap_or(false),
            )?;
        }
        s.hosts.push(h);
    }
    let mut holders = lease::holders(inv)?;
    // Host records for the maintenance-window check, read once when some deployment needs them.
    let mut records: Option<HashMap<String, HostRecord>> = None;
    let mut out = Vec::with_capacity(rows.len());
    for (id, row, _) in rows {
        let mut stages = stages_of.remove(&id).unwrap_or_default();
        for s in &mut stages {
            if as_of_now && s.state == StageState::Soaking && s.soak_until.is_some_and(|u| u <= now)
            {
                // The soak is over: the stage waits at its gate (the end-of-soak check runs when
                // the gate is decided, or by itself in auto mode).
                s.state = StageState::Gate;
            }
            if s.state == StageState::Gate || s.decision.is_some() {
                s.verdict = Some(verdict(&s.reasons));
            }
        }
        out.push(assemble_status(
            inv,
            id,
            row,
            stages,
            holders.remove(&id),
            &mut records,
            as_of_now,
        )?);
    }
    Ok(out)
}

/// A deployment's status from its stored rows: what it waits for, as of now.
fn assemble_status(
    inv: &Inventory,
    id: i64,
    row: DeploymentRow,
    mut stages: Vec<StageStatus>,
    held_by: Option<lease::LeaseHolder>,
    records: &mut Option<HashMap<String, HostRecord>>,
    as_of_now: bool,
) -> Result<DeploymentStatus> {
    let now = inv.clock().now();
    let (name, scope, state, mode, current_stage, warnings, overrides, rollback_on_no_go) = row;
    let active = state.is_active();
    let mut window_wait = None;
    if let Some(s) = stages
        .get_mut(current_stage as usize)
        .filter(|s| active && s.state == StageState::Pending)
    {
        if records.is_none() {
            *records = Some(
                inv.hosts()?
                    .into_iter()
                    .map(|h| (h.spec.name.clone(), h))
                    .collect(),
            );
        }
        let hosts: Vec<HostRecord> = s
            .hosts
            .iter()
            .filter(|h| h.excluded.is_none())
            .map(|h| {
                records
                    .as_ref()
                    .and_then(|r| r.get(&h.host).cloned())
                    .ok_or_else(|| Error::UnknownHost(h.host.clone()))
            })
            .collect::<Result<_>>()?;
        if let Some((group, spec, opens)) = window::closed_window(inv, &hosts)? {
            s.window_opens_at = opens;
            window_wait = Some(format!(
                "the maintenance window of {group} ({spec}){}",
                opens
                    .map(|o| {
                        let x = (o - now).num_seconds().max(0);
                        format!(
                            ", opens in {}d {}h {}m",
                            x / 86_400,
                            (x % 86_400) / 3600,
                            (x % 3600) / 60
                        )
                    })
                    .unwrap_or_default()
            ));
        }
    }
    let unresolved: Vec<&HostStatus> = stages
        .iter()
        .flat_map(|s| &s.hosts)
        .filter(|h| h.excluded.is_none() && h.state.is_unresolved())
        .collect();
    let waiting_for = if window_wait.is_some() {
        window_wait
    } else if active && current_stage as usize >= stages.len() && !unresolved.is_empty() {
        Some(format!(
            "{} to be repaired or excluded before the deployment can finish: {}",
            unresolved
                .iter()
                .map(|h| h.host.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            unresolved
                .iter()
                .map(|h| format!(
                    "{}: {} (`patchdesk deploy exclude {id} --host {} --reason \"…\"`)",
                    h.host,
                    h.error.as_deref().unwrap_or("in attention"),
                    h.host
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    } else if active {
        stages
            .get(current_stage as usize)
            .and_then(|s| match s.state {
                StageState::Soaking => Some(format!(
                    "the {} soak ({} left)",
                    s.name,
                    hours_minutes(s.soak_seconds_left.unwrap_or(0))
                )),
                StageState::Gate if s.verdict == Some(GateVerdict::Inconclusive) => {
                    let why: Vec<String> = s
                        .reasons
                        .iter()
                        .filter(|r| r.verdict == GateVerdict::Inconclusive)
                        .map(|r| format!("{}: {}", r.host, r.message))
                        .collect();
                    Some(format!(
                        "evidence: the {} gate is paused, inconclusive ({}); it is measured again at the next `patchdesk deploy start {id}`, or decide it with a reason",
                        s.name,
                        crate::text::clip(&why.join("; "), 400)
                    ))
                }
                StageState::Gate if mode == Mode::Manual => Some(format!(
                    "your go / no-go on the {} gate{}",
                    s.name,
                    if s.soak_until.is_some_and(|u| u <= now) && s.decision.is_none() && as_of_now {
                        " (the soak is over)"
                    } else {
                        ""
                    }
                )),
                StageState::Gate => Some(format!(
                    "the end-of-soak check of the {} gate (auto mode decides at the next run)",
                    s.name
                )),
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
        rollback_on_no_go,
        held_by,
    })
}

/// All deployments, newest first, as of now (without each host's transaction: see [`status`]).
pub fn list(inv: &Inventory) -> Result<Vec<DeploymentStatus>> {
    load_statuses(inv, None, true, false)
}

/// One host of a stage, as stored.
pub(super) struct StageHost {
    pub host: HostRecord,
    pub state: HostState,
    /// Left out of the rest of the deployment.
    pub excluded: bool,
}

pub(super) fn stage_hosts(inv: &Inventory, id: i64, idx: i64) -> Result<Vec<StageHost>> {
    let rows: Vec<(String, HostState, bool)> = inv
        .conn()
        .prepare("SELECT h.name, d.state, d.excluded_reason IS NOT NULL FROM deployment_hosts d JOIN hosts h ON h.id = d.host_id WHERE d.deployment_id = ?1 AND d.stage_idx = ?2 ORDER BY h.name")?
        .query_map(params![id, idx], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(n, state, excluded)| {
            Ok(StageHost {
                host: inv.host(&n)?,
                state,
                excluded,
            })
        })
        .collect()
}

/// The plan recorded the whole transaction (older deployments know only their named targets).
pub(super) fn transaction_planned(inv: &Inventory, id: i64) -> Result<bool> {
    Ok(inv
        .conn()
        .query_row(
            "SELECT transaction_planned FROM deployments WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false))
}

/// A host's planned transaction. Deployments planned before whole transactions were recorded
/// give their named targets as upgrades.
pub(super) fn changes_of(inv: &Inventory, id: i64, host: &HostRecord) -> Result<Vec<Change>> {
    changes_by_id(
        inv,
        id,
        host.id,
        &host.spec.name,
        transaction_planned(inv, id)?,
    )
}

fn changes_by_id(
    inv: &Inventory,
    id: i64,
    host_id: i64,
    host: &str,
    planned: bool,
) -> Result<Vec<Change>> {
    let sql = if planned {
        "SELECT package, from_version, to_version, requested, was_auto, rollback_ok FROM deployment_changes WHERE deployment_id = ?1 AND host_id = ?2 ORDER BY package"
    } else {
        "SELECT package, from_version, to_version, 1, 0, 1 FROM deployment_targets WHERE deployment_id = ?1 AND host_id = ?2 ORDER BY package"
    };
    let rows = inv
        .conn()
        .prepare_cached(sql)?
        .query_map(params![id, host_id], |r| {
            let from: Option<String> = r.get(1)?;
            let to: Option<String> = r.get(2)?;
            Ok(Change {
                host: host.to_string(),
                package: r.get(0)?,
                kind: Change::kind_of(&from, &to),
                rollback: String::new(),
                from_version: from,
                to_version: to,
                requested: r.get(3)?,
                was_auto: r.get(4)?,
                rollback_ok: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .map(|mut c| {
            c.rollback = c.rollback_words();
            c
        })
        .collect())
}

pub(super) fn set_host(
    inv: &Inventory,
    id: i64,
    host: &HostRecord,
    state: HostState,
    error: Option<&str>,
) -> Result<()> {
    inv.conn().execute(
        "UPDATE deployment_hosts SET state = ?3, error = ?4 WHERE deployment_id = ?1 AND host_id = ?2",
        params![id, host.id, state, error],
    )?;
    Ok(())
}

/// A stage's stored reasons (JSON); unreadable ones are dropped, never guessed.
pub(super) fn reasons_of(json: Option<&str>) -> Vec<GateReason> {
    json.and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}

/// What a host is doing right now, shown beside its state (`None` clears it).
pub(super) fn set_note(
    inv: &Inventory,
    id: i64,
    host: &HostRecord,
    note: Option<&str>,
) -> Result<()> {
    inv.conn().execute(
        "UPDATE deployment_hosts SET note = ?3 WHERE deployment_id = ?1 AND host_id = ?2",
        params![id, host.id, note],
    )?;
    Ok(())
}

pub(super) fn emit(progress: &ProgressFn, host: Option<&str>, phase: Phase, message: String) {
    progress(&ProgressEvent {
        job: "deploy",
        host: host.map(str::to_string),
        phase,
        done: 0,
        total: 0,
        message,
    });
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
}
