//! Background work: the job runner, its schedules and the automation policies (issue #11).
//!
//! Owns the `jobs`, `job_schedules`, `automation_policies`, `policy_actions` and `policy_seen`
//! tables and the `automation-paused` setting. A job is one unit of background work — a scan, a
//! feed sync, one advance of a deployment, the weekly report, an auto-canary decision — with who
//! asked for it (a schedule, a person, a policy), when it was due, started and finished, how it
//! ended, and the error with its next step. [`schedule::due`] says which scheduled jobs are due
//! (pure); [`runner`] runs them (each with its own `CancellationToken` and progress stream tagged
//! with the job id); [`policy`] is the auto-canary policy and the measured time to patch.
//!
//! Must not touch hosts itself (it calls `scan`, `classify`, `rollout` and `report`) nor other
//! modules' tables (it reads deployments through `rollout::status` / `rollout::list`).

pub mod policy;
pub mod runner;
pub mod schedule;

use crate::error::{Error, Result};
use crate::inventory::Inventory;
use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use policy::{AutomationPolicy, PolicyAction};
pub use runner::{JobEvent, JobPhase, Notice, Runner, RunnerHooks};
pub use schedule::{due, DueJob, Schedule, When};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    Scan,
    FeedSync,
    DeploymentAdvance,
    WeeklyReport,
    AutoCanary,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Scan => "scan",
            JobKind::FeedSync => "feed-sync",
            JobKind::DeploymentAdvance => "deployment-advance",
            JobKind::WeeklyReport => "weekly-report",
            JobKind::AutoCanary => "auto-canary",
        }
    }
}

impl std::str::FromStr for JobKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "scan" => Ok(JobKind::Scan),
            "feed-sync" | "feeds" | "sync" => Ok(JobKind::FeedSync),
            "deployment-advance" | "advance" => Ok(JobKind::DeploymentAdvance),
            "weekly-report" | "report" => Ok(JobKind::WeeklyReport),
            "auto-canary" => Ok(JobKind::AutoCanary),
            other => Err(Error::Invalid(format!(
                "unknown job kind {other:?}: use scan, feed-sync, weekly-report or deployment-advance"
            ))),
        }
    }
}

/// What a job works on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum JobScope {
    /// Every host (or every feed, every report scope).
    All,
    Group(String),
    Deployment(i64),
}

impl JobScope {
    /// As stored: `all`, `group:NAME`, `deployment:ID`.
    pub fn key(&self) -> String {
        match self {
            JobScope::All => "all".into(),
            JobScope::Group(g) => format!("group:{g}"),
            JobScope::Deployment(id) => format!("deployment:{id}"),
        }
    }

    pub fn from_key(s: &str) -> Option<Self> {
        match s.split_once(':') {
            None if s == "all" => Some(JobScope::All),
            Some(("group", g)) if !g.is_empty() => Some(JobScope::Group(g.to_string())),
            Some(("deployment", id)) => id.parse().ok().map(JobScope::Deployment),
            _ => None,
        }
    }

    /// For people: `all hosts`, `group web`, `deployment 3`.
    pub fn label(&self) -> String {
        match self {
            JobScope::All => "all".into(),
            JobScope::Group(g) => format!("group {g}"),
            JobScope::Deployment(id) => format!("deployment {id}"),
        }
    }
}

/// Who asked for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum Who {
    Schedule,
    User,
    Policy,
}

impl Who {
    pub fn as_str(self) -> &'static str {
        match self {
            Who::Schedule => "schedule",
            Who::User => "user",
            Who::Policy => "policy",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "schedule" => Who::Schedule,
            "policy" => Who::Policy,
            _ => Who::User,
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Asked for; the runner starts it at its next tick.
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// The process running it stopped (killed, crashed, switched off) before it ended; what it
    /// had done is kept, and the next run continues from the database.
    Interrupted,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "cancelled" => JobState::Cancelled,
            "interrupted" => JobState::Interrupted,
            _ => JobState::Failed,
        }
    }
}

/// Kinds, states and who are bound to SQL as their names: no state is written into SQL text.
macro_rules! bound_as_name {
    ($($t:ty),*) => {$(
        impl rusqlite::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }
    )*};
}
bound_as_name!(JobKind, JobState, Who);

/// One job, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct JobRecord {
    pub id: i64,
    pub kind: JobKind,
    pub scope: JobScope,
    /// The schedule that made it due.
    pub rule: Option<String>,
    pub who: Who,
    pub due: DateTime<Utc>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub duration_secs: Option<i64>,
    pub state: JobState,
    /// One line for people.
    pub result: Option<String>,
    /// The error, with its next step.
    pub error: Option<String>,
    pub error_code: Option<String>,
    /// Which process ran it (`service 1234`, `app 987`).
    pub runner: Option<String>,
}

const JOB_COLUMNS: &str =
    "id, kind, scope, rule, who, due, started, finished, state, result, error, error_code, runner";

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<JobRecord>> {
    let kind: String = r.get(1)?;
    let scope: String = r.get(2)?;
    let started: Option<DateTime<Utc>> = r.get(6)?;
    let finished: Option<DateTime<Utc>> = r.get(7)?;
    let (Ok(kind), Some(scope)) = (kind.parse::<JobKind>(), JobScope::from_key(&scope)) else {
        return Ok(None);
    };
    Ok(Some(JobRecord {
        id: r.get(0)?,
        kind,
        scope,
        rule: r.get(3)?,
        who: Who::parse(&r.get::<_, String>(4)?),
        due: r.get(5)?,
        started,
        finished,
        duration_secs: started
            .zip(finished)
            .map(|(s, f)| (f - s).num_seconds().max(0)),
        state: JobState::parse(&r.get::<_, String>(8)?),
        result: r.get(9)?,
        error: r.get(10)?,
        error_code: r.get(11)?,
        runner: r.get(12)?,
    }))
}

fn jobs_where(inv: &Inventory, clause: &str, p: impl rusqlite::Params) -> Result<Vec<JobRecord>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs {clause}");
    let mut stmt = inv.conn().prepare_cached(&sql)?;
    let rows = stmt
        .query_map(p, job_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows.into_iter().flatten().collect())
}

/// The job history, newest first.
pub fn history(inv: &Inventory, limit: usize) -> Result<Vec<JobRecord>> {
    jobs_where(
        inv,
        "ORDER BY id DESC LIMIT ?1",
        [i64::try_from(limit).unwrap_or(i64::MAX)],
    )
}

pub fn job(inv: &Inventory, id: i64) -> Result<JobRecord> {
    jobs_where(inv, "WHERE id = ?1", [id])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Invalid(format!("no job {id}. Run `patchdesk jobs` to see them.")))
}

/// Jobs asked for and not started yet, oldest first.
pub fn queued(inv: &Inventory) -> Result<Vec<JobRecord>> {
    jobs_where(inv, "WHERE state = ?1 ORDER BY id", [JobState::Queued])
}

/// Jobs running now (in any process).
pub fn running(inv: &Inventory) -> Result<Vec<JobRecord>> {
    jobs_where(inv, "WHERE state = ?1 ORDER BY id", [JobState::Running])
}

/// Ask for a job (`scan now`, `sync feeds now`): the runner starts it at its next tick.
pub fn enqueue(inv: &Inventory, kind: JobKind, scope: JobScope) -> Result<i64> {
    if kind == JobKind::AutoCanary {
        return Err(Error::Invalid(
            "auto-canary jobs are started by the policy after a scan or a feed sync".into(),
        ));
    }
    inv.conn().execute(
        "INSERT INTO jobs (kind, scope, who, due, state) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            kind,
            scope.key(),
            Who::User,
            inv.clock().now(),
            JobState::Queued
        ],
    )?;
    Ok(inv.conn().last_insert_rowid())
}

/// Record that a job starts now (a queued one, or a new one) and claim it: `None` when another
/// runner on the same database (the app and `service run` at once) already took it — the queued
/// job was started elsewhere, the same kind of job on the same scope is running elsewhere (for a
/// deployment advance: or an auto-canary job, which starts what it plans), or the same schedule
/// slot was run. One statement each, so two processes never both win.
pub(crate) fn begin(
    inv: &Inventory,
    job: &DueJob,
    queued_id: Option<i64>,
    runner: &str,
) -> Result<Option<i64>> {
    let now = inv.clock().now();
    if let Some(id) = queued_id {
        let n = inv.conn().execute(
            "UPDATE jobs SET state = ?4, started = ?2, runner = ?3 WHERE id = ?1 AND state = ?5",
            params![id, now, runner, JobState::Running, JobState::Queued],
        )?;
        return Ok((n == 1).then_some(id));
    }
    let n = inv.conn().execute(
        "INSERT INTO jobs (kind, scope, rule, who, due, started, state, runner)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?8, ?7
         WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE state = ?8
                             AND ((kind = ?1 AND scope = ?2)
                                  -- an auto-canary job starts the deployment it plans
                                  OR (?1 = ?9 AND kind = ?10)))
           AND (?3 IS NULL OR NOT EXISTS (SELECT 1 FROM jobs WHERE rule = ?3 AND due = ?5 AND state NOT IN (?11, ?12)))",
        params![job.kind, job.scope.key(), job.rule, job.who, job.due, now, runner, JobState::Running, JobKind::DeploymentAdvance, JobKind::AutoCanary, JobState::Interrupted, JobState::Queued],
    )?;
    Ok((n == 1).then(|| inv.conn().last_insert_rowid()))
}

/// Record how a job ended.
pub(crate) fn finish(
    inv: &Inventory,
    id: i64,
    state: JobState,
    result: Option<&str>,
    error: Option<&Error>,
) -> Result<JobRecord> {
    inv.conn().execute(
        "UPDATE jobs SET state = ?2, finished = ?3, result = ?4, error = ?5, error_code = ?6 WHERE id = ?1",
        params![
            id,
            state,
            inv.clock().now(),
            result.map(|r| crate::text::clip(r, 2000)),
            error.map(|e| crate::text::clip(&e.to_string(), 2000)),
            error.map(|e| e.code())
        ],
    )?;
    job(inv, id)
}

/// Ask a running (or queued) job to stop. The runner that holds it sees the request within a
/// second (in this process or another); a queued one is cancelled at once.
pub fn request_cancel(inv: &Inventory, id: i64) -> Result<JobRecord> {
    let j = job(inv, id)?;
    match j.state {
        JobState::Queued => {
            inv.conn().execute(
                "UPDATE jobs SET state = ?3, finished = ?2, result = 'cancelled before it started', cancel_requested = 1 WHERE id = ?1",
                params![id, inv.clock().now(), JobState::Cancelled],
            )?;
        }
        JobState::Running => {
            inv.conn()
                .execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?1", [id])?;
        }
        s => {
            return Err(Error::Invalid(format!(
                "job {id} is not running (it {})",
                s.as_str()
            )))
        }
    }
    job(inv, id)
}

pub(crate) fn cancel_requested(conn: &rusqlite::Connection, id: i64) -> bool {
    conn.query_row(
        "SELECT cancel_requested FROM jobs WHERE id = ?1",
        [id],
        |r| r.get::<_, bool>(0),
    )
    .unwrap_or(false)
}

/// Jobs left `running` by a process that is gone (killed, crashed): marked interrupted, so the
/// history says so and a scheduled one is owed again. Jobs of live processes are left alone.
pub(crate) fn mark_interrupted(inv: &Inventory) -> Result<usize> {
    let mut n = 0;
    for j in running(inv)? {
        let alive = j
            .runner
            .as_deref()
            .and_then(|r| r.rsplit(' ').next())
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| {
                pid != std::process::id() && std::path::Path::new(&format!("/proc/{pid}")).exists()
            });
        if !alive {
            n += inv.conn().execute(
                "UPDATE jobs SET state = ?3, finished = ?2, error = 'the process running this job stopped before it ended (killed, crashed or switched off); what it had done is kept, and the next run continues from there', error_code = 'interrupted' WHERE id = ?1 AND state = ?4",
                params![j.id, inv.clock().now(), JobState::Interrupted, JobState::Running],
            )?;
        }
    }
    Ok(n)
}

/// For each rule, the slot of its last run (an interrupted run is owed again).
pub fn last_runs(inv: &Inventory) -> Result<BTreeMap<String, DateTime<Utc>>> {
    let mut stmt = inv.conn().prepare_cached(
        "SELECT rule, max(due) FROM jobs WHERE rule IS NOT NULL AND state NOT IN (?1, ?2) GROUP BY rule",
    )?;
    let rows = stmt
        .query_map(params![JobState::Interrupted, JobState::Queued], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, DateTime<Utc>>(1)?))
        })?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
    Ok(rows)
}

/// The schedules; the defaults ([`schedule::defaults`]) are stored the first time, owed from then.
pub fn schedules(inv: &Inventory) -> Result<Vec<Schedule>> {
    let n: i64 = inv
        .conn()
        .query_row("SELECT count(*) FROM job_schedules", [], |r| r.get(0))?;
    if n == 0 {
        for s in schedule::defaults(inv.clock().now()) {
            save_schedule(inv, &s)?;
        }
    }
    let mut stmt = inv.conn().prepare_cached(
        "SELECT rule, kind, scope, spec, jitter_secs, enabled, since FROM job_schedules ORDER BY rule",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, DateTime<Utc>>(6)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(rule, kind, scope, spec, jitter, enabled, since)| {
            Some(Schedule {
                rule,
                kind: kind.parse().ok()?,
                scope: JobScope::from_key(&scope)?,
                when: serde_json::from_str(&spec).ok()?,
                jitter_secs: u32::try_from(jitter).unwrap_or(0),
                enabled,
                since,
            })
        })
        .collect())
}

/// Store (or replace) a schedule.
pub fn save_schedule(inv: &Inventory, s: &Schedule) -> Result<()> {
    if !matches!(
        s.kind,
        JobKind::Scan | JobKind::FeedSync | JobKind::WeeklyReport
    ) {
        return Err(Error::Invalid(
            "only scans, feed syncs and the weekly report run on a schedule".into(),
        ));
    }
    if s.jitter_secs > 3600 {
        return Err(Error::Invalid(
            "the jitter must be at most 3600 seconds".into(),
        ));
    }
    if let JobScope::Group(g) = &s.scope {
        crate::host::validate_label(g).map_err(Error::Invalid)?;
    }
    let spec = serde_json::to_string(&s.when)
        .map_err(|e| Error::Invalid(format!("schedule cannot be saved ({e})")))?;
    inv.conn().execute(
        "INSERT INTO job_schedules (rule, kind, scope, spec, jitter_secs, enabled, since) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(rule) DO UPDATE SET kind = excluded.kind, scope = excluded.scope, spec = excluded.spec, jitter_secs = excluded.jitter_secs, enabled = excluded.enabled, since = excluded.since",
        params![s.rule, s.kind.as_str(), s.scope.key(), spec, s.jitter_secs, s.enabled, s.since],
    )?;
    Ok(())
}

/// Change one schedule: its time, on/off, jitter. A changed time is owed from now on (no
/// catch-up of slots that were not scheduled then).
pub fn set_schedule(
    inv: &Inventory,
    rule: &str,
    when: Option<When>,
    enabled: Option<bool>,
    jitter_secs: Option<u32>,
) -> Result<Schedule> {
    let mut all = schedules(inv)?;
    let existing = all.iter_mut().find(|s| s.rule == rule);
    let mut s = match existing {
        Some(s) => s.clone(),
        None => {
            // `scan:GROUP`: a scan of one group on its own schedule.
            let Some(g) = rule.strip_prefix("scan:") else {
                return Err(Error::Invalid(format!(
                    "no schedule {rule:?}: use scan, scan:GROUP, feed-sync or weekly-report"
                )));
            };
            Schedule {
                rule: rule.to_string(),
                kind: JobKind::Scan,
                scope: JobScope::Group(g.to_string()),
                when: when
                    .ok_or_else(|| Error::Invalid(format!("a new schedule {rule:?} needs --at")))?,
                jitter_secs: 600,
                enabled: true,
                since: inv.clock().now(),
            }
        }
    };
    if let Some(w) = when {
        if w != s.when {
            s.since = inv.clock().now();
        }
        s.when = w;
    }
    if let Some(e) = enabled {
        if e && !s.enabled {
            s.since = inv.clock().now();
        }
        s.enabled = e;
    }
    if let Some(j) = jitter_secs {
        s.jitter_secs = j;
    }
    save_schedule(inv, &s)?;
    Ok(s)
}

const PAUSED_KEY: &str = "automation-paused";

/// Automation paused: no scheduled or policy job starts (jobs asked for by a person still run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Paused {
    pub since: DateTime<Utc>,
    pub by: String,
}

pub fn paused(inv: &Inventory) -> Result<Option<Paused>> {
    Ok(inv
        .setting(PAUSED_KEY)?
        .and_then(|j| serde_json::from_str(&j).ok()))
}

pub fn pause(inv: &Inventory, by: &str) -> Result<Paused> {
    if let Some(p) = paused(inv)? {
        return Ok(p);
    }
    let p = Paused {
        since: inv.clock().now(),
        by: by.to_string(),
    };
    inv.set_setting_json(PAUSED_KEY, &p)?;
    inv.audit(by, None, "automation-pause", "note", None, None, None, None)?;
    Ok(p)
}

pub fn resume(inv: &Inventory, by: &str) -> Result<()> {
    if paused(inv)?.is_some() {
        inv.remove_setting(PAUSED_KEY)?;
        inv.audit(
            by,
            None,
            "automation-resume",
            "note",
            None,
            None,
            None,
            None,
        )?;
    }
    Ok(())
}

/// A scheduled rule as of now: when it runs next, its last run, and why it does not run when it
/// does not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Upcoming {
    pub schedule: Schedule,
    /// `daily 07:00`.
    pub when: String,
    pub next_at: Option<DateTime<Utc>>,
    /// Due now: the runner starts it at its next tick.
    pub due_now: bool,
    pub last: Option<JobRecord>,
    /// Why it will not run (disabled, automation paused).
    pub why_not: Option<String>,
}

/// A deployment the runner is watching, and what it waits for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Watched {
    pub deployment_id: i64,
    pub name: String,
    pub mode: crate::rollout::Mode,
    /// The runner advances it at its next tick.
    pub due_now: bool,
    /// What it waits for, in words (soak, window, a person's go, a repair).
    pub waiting_for: Option<String>,
}

/// Everything `patchdesk jobs` and the Activity view show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Overview {
    pub now: DateTime<Utc>,
    pub paused: Option<Paused>,
    pub running: Vec<JobRecord>,
    pub queued: Vec<JobRecord>,
    pub upcoming: Vec<Upcoming>,
    pub deployments: Vec<Watched>,
    pub history: Vec<JobRecord>,
    pub policies: Vec<AutomationPolicy>,
    /// What the auto-canary policy did, with the measured times to patch.
    pub actions: Vec<PolicyAction>,
}

/// What ran, what runs next, and why something does not run.
pub fn overview(inv: &Inventory, limit: usize) -> Result<Overview> {
    let now = inv.clock().now();
    let paused = paused(inv)?;
    let rules = schedules(inv)?;
    let last = last_runs(inv)?;
    let due_now: Vec<String> = due(now, &rules, &last)
        .into_iter()
        .filter_map(|j| j.rule)
        .collect();
    let mut upcoming = Vec::new();
    for s in rules {
        let last_job = jobs_where(inv, "WHERE rule = ?1 ORDER BY id DESC LIMIT 1", [&s.rule])?
            .into_iter()
            .next();
        let why_not = if !s.enabled {
            Some(format!(
                "disabled (`patchdesk automation schedule {} --on` turns it on)",
                s.rule
            ))
        } else {
            paused.as_ref().map(|p| {
                format!(
                    "automation is paused since {} by {} (`patchdesk automation resume`)",
                    p.since.format("%Y-%m-%d %H:%M UTC"),
                    p.by
                )
            })
        };
        upcoming.push(Upcoming {
            when: s.when.describe(),
            next_at: schedule::next_slot(&s, now, &chrono::Local),
            due_now: s.enabled && due_now.contains(&s.rule),
            last: last_job,
            why_not,
            schedule: s,
        });
    }
    let deployments = runner::watched(inv, now)?;
    Ok(Overview {
        now,
        paused,
        running: running(inv)?,
        queued: queued(inv)?,
        upcoming,
        deployments,
        history: history(inv, limit)?,
        policies: policy::policies(inv)?,
        actions: policy::actions(inv, limit)?,
    })
}

#[cfg(test)]
mod tests;
