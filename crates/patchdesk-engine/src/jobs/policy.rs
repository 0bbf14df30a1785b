//! Automation policies per group and the auto-canary policy: a *new* critical patch in a group
//! that opted in is planned (canary = the group's non-prod hosts, the group's smoke tests, every
//! rollback path checked) and started on the canary (inside the group's maintenance window: a
//! closed window makes the stage wait). A plan blocked by a guard is never overridden here: it is
//! recorded and announced with the reason. Each decision is a `policy_actions` row that also
//! carries the measured disclosure → canary → last-host-patched times.
//!
//! Owns `automation_policies`, `policy_actions`, `policy_seen`. Plans and starts deployments only
//! through `rollout::plan` / `rollout::advance`.

use super::Notice;
use crate::classify::{self, Bucket, PatchFilter};
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::progress::ProgressFn;
use crate::rollout::{
    self, DeploymentState, DeploymentStatus, GateVerdict, HostState, PlanRequest, StageState,
};
use crate::ssh::SshOptions;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A group's automation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AutomationPolicy {
    pub group: String,
    /// A new critical patch found by a scan or a feed sync is planned and started on the
    /// group's canary, in auto mode (healthy gates pass by themselves after the soak).
    pub auto_canary: bool,
    pub soak_hours: i64,
    /// Cumulative production waves in percent.
    pub waves: Vec<u32>,
    /// A no-go rolls the failed stage's hosts back at once.
    pub rollback_on_no_go: bool,
}

impl AutomationPolicy {
    pub fn new(group: &str) -> Self {
        Self {
            group: group.to_string(),
            auto_canary: false,
            soak_hours: 24,
            waves: vec![5, 25, 50, 100],
            rollback_on_no_go: true,
        }
    }

    fn validate(&self) -> Result<()> {
        crate::host::validate_label(&self.group).map_err(Error::Invalid)?;
        if !(0..=168).contains(&self.soak_hours) {
            return Err(Error::Invalid(
                "the canary soak must be between 0 and 168 hours".into(),
            ));
        }
        if self.waves.is_empty()
            || self.waves.iter().any(|w| *w == 0 || *w > 100)
            || self.waves.windows(2).any(|w| w[0] >= w[1])
            || self.waves.last() != Some(&100)
        {
            return Err(Error::Invalid(
                "waves are rising percentages ending at 100, e.g. 5,25,50,100".into(),
            ));
        }
        Ok(())
    }
}

pub fn policies(inv: &Inventory) -> Result<Vec<AutomationPolicy>> {
    let mut stmt = inv.conn().prepare_cached(
        "SELECT group_name, auto_canary, soak_hours, waves, rollback_on_no_go FROM automation_policies ORDER BY group_name",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(AutomationPolicy {
                group: r.get(0)?,
                auto_canary: r.get(1)?,
                soak_hours: r.get(2)?,
                waves: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                rollback_on_no_go: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// A group's policy (the defaults, off, when none is stored).
pub fn policy(inv: &Inventory, group: &str) -> Result<AutomationPolicy> {
    Ok(policies(inv)?
        .into_iter()
        .find(|p| p.group == group)
        .unwrap_or_else(|| AutomationPolicy::new(group)))
}

/// Store a group's policy (audited: turning automation on lets PatchDesk change hosts by itself).
pub fn set_policy(inv: &Inventory, p: &AutomationPolicy, who: &str) -> Result<()> {
    p.validate()?;
    if !inv.groups()?.iter().any(|(g, _)| g == &p.group) {
        return Err(Error::Invalid(format!(
            "no group {:?}. Run `patchdesk host list` to see the groups.",
            p.group
        )));
    }
    inv.conn().execute(
        "INSERT INTO automation_policies (group_name, auto_canary, soak_hours, waves, rollback_on_no_go, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(group_name) DO UPDATE SET auto_canary = excluded.auto_canary, soak_hours = excluded.soak_hours, waves = excluded.waves, rollback_on_no_go = excluded.rollback_on_no_go, updated_at = excluded.updated_at",
        params![
            p.group,
            p.auto_canary,
            p.soak_hours,
            serde_json::to_string(&p.waves).unwrap_or_else(|_| "[]".into()),
            p.rollback_on_no_go,
            inv.clock().now()
        ],
    )?;
    inv.audit(
        who,
        None,
        "automation-policy",
        "note",
        None,
        None,
        None,
        Some(&format!(
            "group {}: auto-canary {}, soak {} h, waves {:?}, rollback on no-go {}",
            p.group,
            if p.auto_canary { "on" } else { "off" },
            p.soak_hours,
            p.waves,
            p.rollback_on_no_go
        )),
    )?;
    Ok(())
}

/// What the policy decided about the critical patches it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum ActionOutcome {
    /// Planned and started on the canary.
    Started,
    /// A guard blocked the plan: reported, not overridden.
    Blocked,
    /// The plan could not be made (an error); tried again after the next scan or sync.
    Failed,
}

impl ActionOutcome {
    fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Started => "started",
            ActionOutcome::Blocked => "blocked",
            ActionOutcome::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "started" => ActionOutcome::Started,
            "blocked" => ActionOutcome::Blocked,
            _ => ActionOutcome::Failed,
        }
    }
}

/// One decision of the auto-canary policy and the times measured after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PolicyAction {
    pub id: i64,
    pub group: String,
    pub packages: Vec<String>,
    pub cves: Vec<String>,
    pub disclosed_at: Option<DateTime<Utc>>,
    pub found_at: DateTime<Utc>,
    pub job_id: Option<i64>,
    pub deployment_id: Option<i64>,
    pub outcome: ActionOutcome,
    /// Why it was blocked or failed.
    pub reason: Option<String>,
    /// The canary stage was applied (as the runner saw it).
    pub canary_at: Option<DateTime<Utc>>,
    /// The deployment finished: the last host patched.
    pub finished_at: Option<DateTime<Utc>>,
    pub halted_at: Option<DateTime<Utc>>,
    pub halt_reason: Option<String>,
    /// Disclosure → canary patched, and disclosure → last host patched, in seconds.
    pub disclosure_to_canary_secs: Option<i64>,
    pub disclosure_to_done_secs: Option<i64>,
}

pub fn actions(inv: &Inventory, limit: usize) -> Result<Vec<PolicyAction>> {
    let mut stmt = inv.conn().prepare_cached(
        "SELECT id, group_name, packages, cves, disclosed_at, found_at, job_id, deployment_id, outcome, reason, canary_at, finished_at, halted_at, halt_reason FROM policy_actions ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            let disclosed: Option<DateTime<Utc>> = r.get(4)?;
            let canary: Option<DateTime<Utc>> = r.get(10)?;
            let done: Option<DateTime<Utc>> = r.get(11)?;
            let secs =
                |t: Option<DateTime<Utc>>| disclosed.zip(t).map(|(d, t)| (t - d).num_seconds());
            Ok(PolicyAction {
                id: r.get(0)?,
                group: r.get(1)?,
                packages: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                cves: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                disclosed_at: disclosed,
                found_at: r.get(5)?,
                job_id: r.get(6)?,
                deployment_id: r.get(7)?,
                outcome: ActionOutcome::parse(&r.get::<_, String>(8)?),
                reason: r.get(9)?,
                canary_at: canary,
                finished_at: done,
                halted_at: r.get(12)?,
                halt_reason: r.get(13)?,
                disclosure_to_canary_secs: secs(canary),
                disclosure_to_done_secs: secs(done),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// New critical patches in one group with auto-canary on: what one auto-canary job deploys.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub group: String,
    pub packages: BTreeSet<String>,
    pub cves: BTreeSet<String>,
    /// (package, candidate version) pairs, remembered once acted on.
    pub keys: BTreeSet<(String, String)>,
    pub disclosed_at: Option<DateTime<Utc>>,
}

/// The critical patches the policy has not acted on yet, per group with auto-canary on. A
/// package already in a planned or running deployment of that group is left to it.
pub fn new_criticals(inv: &Inventory) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    let active: Vec<DeploymentStatus> = rollout::list(inv)?
        .into_iter()
        .filter(|d| d.state.is_active())
        .collect();
    let mut seen_stmt = inv.conn().prepare_cached(
        "SELECT 1 FROM policy_seen WHERE group_name = ?1 AND package = ?2 AND version = ?3",
    )?;
    for p in policies(inv)?.into_iter().filter(|p| p.auto_canary) {
        let mut busy: BTreeSet<String> = BTreeSet::new();
        for d in active.iter().filter(|d| d.scope == p.group) {
            for s in &rollout::status(inv, d.id)?.stages {
                for h in &s.hosts {
                    busy.extend(h.changes.iter().map(|c| c.package.clone()));
                }
            }
        }
        let items = classify::patches(
            inv,
            &PatchFilter {
                bucket: Some(Bucket::Critical),
                group: Some(p.group.clone()),
                ..PatchFilter::default()
            },
        )?;
        let mut f = Found {
            group: p.group.clone(),
            packages: BTreeSet::new(),
            cves: BTreeSet::new(),
            keys: BTreeSet::new(),
            disclosed_at: None,
        };
        for it in items {
            if busy.contains(&it.package) {
                continue;
            }
            let seen = seen_stmt
                .query_row(params![p.group, it.package, it.candidate_version], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            if seen {
                continue;
            }
            f.packages.insert(it.package.clone());
            f.cves.extend(it.cves.iter().map(|c| c.cve.clone()));
            f.keys
                .insert((it.package.clone(), it.candidate_version.clone()));
            f.disclosed_at = match (f.disclosed_at, it.disclosed_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if !f.keys.is_empty() {
            out.push(f);
        }
    }
    Ok(out)
}

fn record(
    inv: &Inventory,
    f: &Found,
    job_id: i64,
    deployment_id: Option<i64>,
    outcome: ActionOutcome,
    reason: Option<&str>,
) -> Result<i64> {
    let tx = inv.conn().unchecked_transaction()?;
    tx.execute(
        "INSERT INTO policy_actions (group_name, packages, cves, disclosed_at, found_at, job_id, deployment_id, outcome, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            f.group,
            serde_json::to_string(&f.packages).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&f.cves).unwrap_or_else(|_| "[]".into()),
            f.disclosed_at,
            inv.clock().now(),
            job_id,
            deployment_id,
            outcome.as_str(),
            reason
        ],
    )?;
    let id = tx.last_insert_rowid();
    // A failed plan is tried again after the next scan or sync; a decision is made once.
    if outcome != ActionOutcome::Failed {
        for (pkg, ver) in &f.keys {
            tx.execute(
                "INSERT OR IGNORE INTO policy_seen (group_name, package, version, action_id) VALUES (?1, ?2, ?3, ?4)",
                params![f.group, pkg, ver, id],
            )?;
        }
    }
    tx.commit()?;
    Ok(id)
}

fn cve_words(f: &Found) -> String {
    if f.cves.is_empty() {
        f.packages.iter().cloned().collect::<Vec<_>>().join(", ")
    } else {
        f.cves
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
            + if f.cves.len() > 4 { ", …" } else { "" }
    }
}

/// Plan the found patches for the group's canary and start it (auto mode). Returns one line for
/// the job's result and what to announce. A guard-blocked plan is recorded and announced with
/// its reasons, never overridden.
pub async fn act(
    inv: &mut Inventory,
    f: &Found,
    job_id: i64,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<(String, Vec<Notice>)> {
    let p = policy(inv, &f.group)?;
    let req = PlanRequest {
        name: format!("auto {}: {}", f.group, cve_words(f)),
        scope: f.group.clone(),
        packages: f.packages.iter().cloned().collect(),
        waves: p.waves.clone(),
        canary_soak_hours: p.soak_hours,
        auto: true,
        rollback_on_no_go: p.rollback_on_no_go,
        ..PlanRequest::default()
    };
    let plan = match rollout::plan(inv, &req, ssh).await {
        Ok(plan) => plan,
        Err(e) => {
            record(
                inv,
                f,
                job_id,
                None,
                ActionOutcome::Failed,
                Some(&e.to_string()),
            )?;
            return Err(e);
        }
    };
    let blocked = plan.blocked();
    if !blocked.is_empty() {
        let reason = blocked
            .iter()
            .map(|g| format!("{} ({})", g.message, g.code))
            .collect::<Vec<_>>()
            .join("; ");
        record(inv, f, job_id, None, ActionOutcome::Blocked, Some(&reason))?;
        let line = format!(
            "{} in {}: the plan is blocked and was not started: {reason}. Nothing was overridden: plan it yourself (`patchdesk deploy plan --scope {} --package …`) once the cause is fixed, or override with a written reason.",
            cve_words(f),
            f.group,
            f.group
        );
        return Ok((
            line.clone(),
            vec![Notice {
                title: format!("Auto-canary blocked for {}: {}", f.group, cve_words(f)),
                body: line,
                deployment_id: None,
                open: None,
            }],
        ));
    }
    let Some(id) = plan.deployment_id else {
        return Err(Error::Invalid("the plan was not stored".into()));
    };
    record(inv, f, job_id, Some(id), ActionOutcome::Started, None)?;
    inv.audit(
        "policy",
        None,
        "auto-canary",
        "note",
        None,
        None,
        None,
        Some(&format!(
            "deployment {id} planned for {} in {} (critical, found by the policy)",
            cve_words(f),
            f.group
        )),
    )?;
    let before = rollout::status(inv, id)?;
    let st = rollout::advance(inv, id, "policy", ssh, rollout::OnBusy::Refuse, progress).await?;
    observe(inv, &st)?;
    let more = super::runner::advance_notices(inv, &before, &st)?;
    let canary: Vec<String> = plan
        .stages
        .first()
        .map(|s| s.hosts.clone())
        .unwrap_or_default();
    let started = st
        .stages
        .first()
        .is_some_and(|s| s.state != StageState::Pending);
    let line = if started {
        format!(
            "deployment {id} planned and started for {}: canary {} patched, {}",
            cve_words(f),
            canary.join(", "),
            st.waiting_for
                .as_deref()
                .map(|w| format!("waits for {w}"))
                .unwrap_or_else(|| st.state.as_str().to_string())
        )
    } else {
        format!(
            "deployment {id} planned for {}: the canary ({}) waits for {}",
            cve_words(f),
            canary.join(", "),
            st.waiting_for.as_deref().unwrap_or("its start")
        )
    };
    let mut notices = vec![Notice {
        title: if started {
            format!("Canary started for {} in {}", cve_words(f), f.group)
        } else {
            format!("Canary planned for {} in {}", cve_words(f), f.group)
        },
        body: line.clone(),
        deployment_id: Some(id),
        open: None,
    }];
    notices.extend(more);
    Ok((line, notices))
}

/// Note what a policy deployment reached (canary applied, finished, halted), once each.
pub fn observe(inv: &Inventory, st: &DeploymentStatus) -> Result<()> {
    let now = inv.clock().now();
    let canary_done = st.stages.first().is_some_and(|s| {
        s.state != StageState::Pending && s.hosts.iter().any(|h| h.state == HostState::Applied)
    });
    if canary_done {
        inv.conn().execute(
            "UPDATE policy_actions SET canary_at = ?2 WHERE deployment_id = ?1 AND canary_at IS NULL",
            params![st.id, now],
        )?;
    }
    if st.state == DeploymentState::Finished {
        inv.conn().execute(
            "UPDATE policy_actions SET finished_at = ?2 WHERE deployment_id = ?1 AND finished_at IS NULL",
            params![st.id, now],
        )?;
    }
    if matches!(
        st.state,
        DeploymentState::Halted | DeploymentState::RolledBack
    ) {
        let reason = st
            .stages
            .iter()
            .find(|s| s.decision == Some(GateVerdict::NoGo))
            .map(|s| {
                format!(
                    "no-go at the {} gate: {}",
                    s.name,
                    s.reasons
                        .iter()
                        .filter(|r| r.is_no_go())
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            });
        inv.conn().execute(
            "UPDATE policy_actions SET halted_at = ?2, halt_reason = ?3 WHERE deployment_id = ?1 AND halted_at IS NULL",
            params![st.id, now, reason],
        )?;
    }
    Ok(())
}

/// Deployment id → the policy action that started it (for the runner's notices).
pub fn policy_deployments(inv: &Inventory) -> Result<BTreeMap<i64, i64>> {
    let mut stmt = inv.conn().prepare_cached(
        "SELECT deployment_id, id FROM policy_actions WHERE deployment_id IS NOT NULL",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
    Ok(rows)
}
