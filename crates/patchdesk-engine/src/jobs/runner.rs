//! The job runner: at each tick it runs, one after the other, the jobs people asked for, the
//! scheduled jobs that are due ([`super::schedule::due`]), the auto-canary decisions after a scan
//! or a feed sync that found a new critical patch, and one advance of each deployment that can
//! move (a window opened, a soak ended, an auto gate to pass). Each job gets its own row in
//! `jobs`, its own `CancellationToken` (cancelled from this process with [`Canceller`], or from
//! another with [`super::request_cancel`], seen within a second), and a progress stream tagged
//! with its id ([`JobEvent`]). What automation did is announced as [`Notice`]s; the shells turn
//! them into desktop notifications.
//!
//! The shells only start the runner and listen: `patchdesk service run` (headless) and the app.
//! Rendering of report files is passed in ([`RunnerHooks::render`]) so the engine stays free of
//! the renderers. Time comes from the inventory's injected clock.

use super::{
    begin, finish, mark_interrupted, policy, queued, DueJob, JobKind, JobRecord, JobScope,
    JobState, Watched, Who,
};
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::progress::{ProgressEvent, ProgressFn};
use crate::report::{Paper, RenderedFile, WeeklyReport};
use crate::rollout::{
    self, DeploymentState, DeploymentStatus, GateVerdict, HostState, Mode, StageState,
};
use crate::scan::{self, ScanOptions};
use crate::settings::Settings;
use crate::ssh::PassphraseFn;
use chrono::{DateTime, Duration, Utc};
use rusqlite::params;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Where a job is, for listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum JobPhase {
    Started,
    Progress,
    Finished,
}

/// One event of one job: its start, its progress (the engine's own progress events, tagged
/// with the job), its end (with the stored record).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct JobEvent {
    pub job_id: i64,
    pub kind: JobKind,
    pub scope: JobScope,
    pub phase: JobPhase,
    pub progress: Option<ProgressEvent>,
    pub record: Option<JobRecord>,
}

/// Something automation did that a person should hear about.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Notice {
    pub title: String,
    pub body: String,
    /// Clicking it opens this deployment.
    pub deployment_id: Option<i64>,
    /// Clicking it opens this file (a weekly report).
    pub open: Option<String>,
}

type RenderFn = dyn Fn(&WeeklyReport, Paper) -> Result<Vec<RenderedFile>> + Send + Sync;

/// What the shell gives the runner.
#[derive(Clone)]
pub struct RunnerHooks {
    /// Renders a weekly report's files (the `patchdesk-report` crate).
    pub render: Arc<RenderFn>,
    pub on_event: Arc<dyn Fn(&JobEvent) + Send + Sync>,
    pub on_notice: Arc<dyn Fn(&Notice) + Send + Sync>,
    /// Asked for a key file's passphrase (headless: from the environment, or none).
    pub passphrase: Option<PassphraseFn>,
    /// Announce new alerts (a critical patch appeared, a deadline within 24 h or missed) at most
    /// this often; `None`: never.
    pub alerts_every: Option<Duration>,
}

impl RunnerHooks {
    /// Hooks that render nothing and tell nobody (tests).
    pub fn silent() -> Self {
        Self {
            render: Arc::new(|_, _| Ok(Vec::new())),
            on_event: Arc::new(|_| {}),
            on_notice: Arc::new(|_| {}),
            passphrase: None,
            alerts_every: None,
        }
    }
}

/// Cancels running jobs of this process by id.
#[derive(Clone, Default)]
pub struct Canceller(Arc<Mutex<BTreeMap<i64, CancellationToken>>>);

impl Canceller {
    /// Cancel a job running in this process; `false` when it is not running here.
    pub fn cancel(&self, id: i64) -> bool {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }
    fn add(&self, id: i64, t: CancellationToken) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, t);
    }
    fn remove(&self, id: i64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }
}

/// A deployment as the runner judges it: can one advance move it now?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentView {
    pub id: i64,
    pub running: bool,
    pub auto: bool,
    /// The current stage's state as of now (a soak that has ended is a gate); `None` past the
    /// last stage.
    pub stage_state: Option<StageState>,
    /// A pending stage waits for its group's window, which opens then (`None`: open now, or no
    /// window).
    pub window_opens_at: Option<DateTime<Utc>>,
    pub window_closed: bool,
    /// The last advance by the runner failed then (retried 10 minutes later).
    pub last_failure: Option<DateTime<Utc>>,
}

/// Whether one advance can move a deployment at `now` (pure). A pending stage inside its window
/// is applied (in either mode: a person's go already let it go on); a stage left `applied` is
/// verified; an auto deployment passes (or halts at) its gate once the soak is over. A manual
/// gate waits for a person, a closed window waits for its opening, a failed advance is retried
/// after 10 minutes (a lease held by another process is no failure: the next tick tries again).
pub fn advance_due(now: DateTime<Utc>, d: &DeploymentView) -> bool {
    if !d.running {
        return false;
    }
    if d.last_failure
        .is_some_and(|f| now < f + Duration::minutes(10))
    {
        return false;
    }
    match d.stage_state {
        Some(StageState::Pending) => {
            !d.window_closed || d.window_opens_at.is_some_and(|o| o <= now)
        }
        Some(StageState::Applied) => true,
        Some(StageState::Gate) => d.auto,
        _ => false,
    }
}

fn view_of(st: &DeploymentStatus, last_failure: Option<DateTime<Utc>>) -> DeploymentView {
    let stage = st
        .stages
        .get(usize::try_from(st.current_stage).unwrap_or(usize::MAX));
    DeploymentView {
        id: st.id,
        running: st.state == DeploymentState::Running,
        auto: st.mode == Mode::Auto,
        stage_state: stage.map(|s| s.state),
        window_opens_at: stage.and_then(|s| s.window_opens_at),
        window_closed: stage.is_some_and(|s| s.state == StageState::Pending)
            && st
                .waiting_for
                .as_deref()
                .is_some_and(|w| w.starts_with("the maintenance window")),
        last_failure,
    }
}

fn last_failures(inv: &Inventory) -> Result<BTreeMap<i64, DateTime<Utc>>> {
    let mut stmt = inv.conn().prepare_cached(
        // Refused because another process held the deployment's lease (a person's `deploy go`):
        // not a failure to back off from; the next tick tries again.
        "SELECT scope, max(finished) FROM jobs WHERE kind = ?1 AND state = ?2 AND coalesce(error_code, '') <> 'deployment_busy' GROUP BY scope",
    )?;
    let rows = stmt
        .query_map(params![JobKind::DeploymentAdvance, JobState::Failed], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<DateTime<Utc>>>(1)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // A later success clears it.
    let mut ok_stmt = inv.conn().prepare_cached(
        "SELECT max(finished) FROM jobs WHERE kind = ?2 AND state = ?3 AND scope = ?1",
    )?;
    let mut out = BTreeMap::new();
    for (scope, failed) in rows {
        let (Some(JobScope::Deployment(id)), Some(failed)) = (JobScope::from_key(&scope), failed)
        else {
            continue;
        };
        let ok: Option<DateTime<Utc>> = ok_stmt.query_row(
            params![scope, JobKind::DeploymentAdvance, JobState::Succeeded],
            |r| r.get(0),
        )?;
        if ok.is_none_or(|o| o < failed) {
            out.insert(id, failed);
        }
    }
    Ok(out)
}

/// The running deployments and whether the runner advances them now.
pub fn watched(inv: &Inventory, now: DateTime<Utc>) -> Result<Vec<Watched>> {
    let failures = last_failures(inv)?;
    Ok(rollout::list(inv)?
        .into_iter()
        .filter(|d| d.state == DeploymentState::Running)
        .map(|st| {
            let v = view_of(&st, failures.get(&st.id).copied());
            Watched {
                deployment_id: st.id,
                name: st.name.clone(),
                mode: st.mode,
                due_now: advance_due(now, &v),
                waiting_for: match v.last_failure {
                    Some(f) if now < f + Duration::minutes(10) => Some(format!(
                        "a retry of its last advance, which failed at {} (see the job's error)",
                        f.format("%H:%M UTC")
                    )),
                    _ => st.waiting_for.clone(),
                },
            }
        })
        .collect())
}

/// The runner of one process (`service 1234`, `app 987`).
pub struct Runner {
    name: String,
    hooks: RunnerHooks,
    canceller: Canceller,
    shutdown: CancellationToken,
    started: bool,
    last_alerts: Option<DateTime<Utc>>,
}

/// What one job did, for the runner's own bookkeeping.
struct Outcome {
    state: JobState,
    result: String,
    error: Option<Error>,
    notices: Vec<super::Notice>,
    /// A scan or a feed sync that may have found new critical patches.
    found_patches: bool,
}

impl Outcome {
    fn ok(result: String) -> Self {
        Self {
            state: JobState::Succeeded,
            result,
            error: None,
            notices: Vec::new(),
            found_patches: false,
        }
    }
}

impl Runner {
    /// `process`: what runs it (`service`, `app`); the process id is added.
    pub fn new(process: &str, hooks: RunnerHooks) -> Self {
        Self {
            name: format!("{process} {}", std::process::id()),
            hooks,
            canceller: Canceller::default(),
            shutdown: CancellationToken::new(),
            started: false,
            last_alerts: None,
        }
    }

    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Cancelling it stops the loop and the running job.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Run every `every` until shut down. Errors of a tick are logged and announced as job
    /// errors; the loop goes on.
    pub async fn run(&mut self, inv: &mut Inventory, every: std::time::Duration) {
        let shutdown = self.shutdown.clone();
        while !shutdown.is_cancelled() {
            if let Err(e) = self.tick(inv).await {
                tracing::warn!("job runner: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }

    /// Run everything that is due now, one job after the other; the records of what ran.
    pub async fn tick(&mut self, inv: &mut Inventory) -> Result<Vec<JobRecord>> {
        let mut done = Vec::new();
        let mut check_policy = false;
        // Jobs of a process that died (this one's earlier life, or another runner on the same
        // database) are marked interrupted: their claims are free again.
        mark_interrupted(inv)?;
        if !self.started {
            self.started = true;
            // After a restart: anything found while no runner ran is acted on now.
            check_policy = true;
        }
        // Asked for by a person: run even while automation is paused.
        for q in queued(inv)? {
            let job = DueJob {
                kind: q.kind,
                scope: q.scope.clone(),
                rule: None,
                who: Who::User,
                due: q.due,
            };
            // Started by another runner meanwhile: nothing to do here.
            if let Some((rec, found)) = self.run_job(inv, &job, Some(q.id)).await? {
                check_policy |= found;
                done.push(rec);
            }
            if self.shutdown.is_cancelled() {
                return Ok(done);
            }
        }
        if super::paused(inv)?.is_some() {
            return Ok(done);
        }
        let now = inv.clock().now();
        let mut due = super::due(now, &super::schedules(inv)?, &super::last_runs(inv)?);
        due.sort_by_key(|j| j.due);
        for job in due {
            let Some((rec, found)) = self.run_job(inv, &job, None).await? else {
                continue;
            };
            check_policy |= found;
            done.push(rec);
            if self.shutdown.is_cancelled() {
                return Ok(done);
            }
        }
        if check_policy {
            for f in policy::new_criticals(inv)? {
                let job = DueJob {
                    kind: JobKind::AutoCanary,
                    scope: JobScope::Group(f.group.clone()),
                    rule: None,
                    who: Who::Policy,
                    due: inv.clock().now(),
                };
                if let Some(rec) = self.run_policy_job(inv, &job, &f).await? {
                    done.push(rec);
                }
            }
        }
        let now = inv.clock().now();
        for w in watched(inv, now)?.into_iter().filter(|w| w.due_now) {
            if self.shutdown.is_cancelled() {
                break;
            }
            let job = DueJob {
                kind: JobKind::DeploymentAdvance,
                scope: JobScope::Deployment(w.deployment_id),
                rule: None,
                who: Who::Policy,
                due: now,
            };
            // Advanced by another runner right now: that one does it.
            if let Some((rec, _)) = self.run_job(inv, &job, None).await? {
                done.push(rec);
            }
        }
        if let Some(every) = self.hooks.alerts_every {
            let now = inv.clock().now();
            if self.last_alerts.is_none_or(|t| now >= t + every) {
                self.last_alerts = Some(now);
                let alerts = crate::classify::new_alerts(inv)?;
                if let Some((title, body)) = crate::classify::alert_message(&alerts) {
                    (self.hooks.on_notice)(&Notice {
                        title,
                        body,
                        deployment_id: None,
                        open: None,
                    });
                }
            }
        }
        Ok(done)
    }

    fn event(&self, id: i64, job: &DueJob, phase: JobPhase) -> JobEvent {
        JobEvent {
            job_id: id,
            kind: job.kind,
            scope: job.scope.clone(),
            phase,
            progress: None,
            record: None,
        }
    }

    fn progress_for(&self, id: i64, job: &DueJob) -> ProgressFn {
        let on_event = self.hooks.on_event.clone();
        let base = self.event(id, job, JobPhase::Progress);
        Arc::new(move |e: &ProgressEvent| {
            let mut ev = base.clone();
            ev.progress = Some(e.clone());
            on_event(&ev);
        })
    }

    /// Start the job's record, its token and the watcher of cross-process cancel requests.
    fn start(
        &self,
        inv: &Inventory,
        job: &DueJob,
        queued_id: Option<i64>,
    ) -> Result<Option<(i64, CancellationToken, CancellationToken)>> {
        let Some(id) = begin(inv, job, queued_id, &self.name)? else {
            return Ok(None);
        };
        (self.hooks.on_event)(&self.event(id, job, JobPhase::Started));
        let token = self.shutdown.child_token();
        self.canceller.add(id, token.clone());
        // Another process (`patchdesk jobs cancel ID`) asks through the database.
        let stop_watch = CancellationToken::new();
        let path = inv.path().to_path_buf();
        if path.as_os_str() != ":memory:" {
            let (t, stop) = (token.clone(), stop_watch.clone());
            tokio::spawn(async move {
                let Ok(conn) = rusqlite::Connection::open_with_flags(
                    &path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                ) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                    }
                    if super::cancel_requested(&conn, id) {
                        t.cancel();
                        return;
                    }
                }
            });
        }
        Ok(Some((id, token, stop_watch)))
    }

    fn end(
        &self,
        inv: &Inventory,
        id: i64,
        job: &DueJob,
        stop_watch: CancellationToken,
        out: &Outcome,
    ) -> Result<JobRecord> {
        stop_watch.cancel();
        self.canceller.remove(id);
        let rec = finish(inv, id, out.state, Some(&out.result), out.error.as_ref())?;
        let mut ev = self.event(id, job, JobPhase::Finished);
        ev.record = Some(rec.clone());
        (self.hooks.on_event)(&ev);
        for n in &out.notices {
            (self.hooks.on_notice)(n);
        }
        Ok(rec)
    }

    async fn run_job(
        &self,
        inv: &mut Inventory,
        job: &DueJob,
        queued_id: Option<i64>,
    ) -> Result<Option<(JobRecord, bool)>> {
        let Some((id, token, stop_watch)) = self.start(inv, job, queued_id)? else {
            return Ok(None);
        };
        let progress = self.progress_for(id, job);
        let out = match self.execute(inv, job, progress, token.clone()).await {
            Ok(o) => o,
            Err(e) => Outcome {
                state: if matches!(e, Error::Cancelled) || token.is_cancelled() {
                    JobState::Cancelled
                } else {
                    JobState::Failed
                },
                result: if token.is_cancelled() {
                    "cancelled".into()
                } else {
                    "failed".into()
                },
                error: (!token.is_cancelled()).then_some(e),
                notices: Vec::new(),
                found_patches: false,
            },
        };
        let found = out.found_patches;
        Ok(Some((self.end(inv, id, job, stop_watch, &out)?, found)))
    }

    async fn run_policy_job(
        &self,
        inv: &mut Inventory,
        job: &DueJob,
        f: &policy::Found,
    ) -> Result<Option<JobRecord>> {
        let Some((id, token, stop_watch)) = self.start(inv, job, None)? else {
            return Ok(None);
        };
        // Claimed: look again (another runner may have acted on these patches meanwhile).
        let Some(f) = policy::new_criticals(inv)?
            .into_iter()
            .find(|x| x.group == f.group)
        else {
            let out = Outcome::ok("nothing new: already acted on".into());
            return Ok(Some(self.end(inv, id, job, stop_watch, &out)?));
        };
        let progress = self.progress_for(id, job);
        let ssh = Settings::load(inv)?.ssh_options();
        let res = tokio::select! {
            r = policy::act(inv, &f, id, &ssh, progress) => r,
            _ = token.cancelled() => Err(Error::Cancelled),
        };
        let out = match res {
            Ok((line, notices)) => Outcome {
                notices,
                ..Outcome::ok(line)
            },
            Err(e) => Outcome {
                state: if token.is_cancelled() {
                    JobState::Cancelled
                } else {
                    JobState::Failed
                },
                result: "the auto-canary plan could not be made".into(),
                notices: vec![Notice {
                    title: format!("Auto-canary failed for {}", f.group),
                    body: e.to_string(),
                    deployment_id: None,
                    open: None,
                }],
                error: Some(e),
                found_patches: false,
            },
        };
        Ok(Some(self.end(inv, id, job, stop_watch, &out)?))
    }

    async fn execute(
        &self,
        inv: &mut Inventory,
        job: &DueJob,
        progress: ProgressFn,
        token: CancellationToken,
    ) -> Result<Outcome> {
        let settings = Settings::load(inv)?;
        match (job.kind, &job.scope) {
            (JobKind::Scan, scope) => {
                let names = match scope {
                    JobScope::Group(g) => {
                        let m = inv.hosts_in_group(g)?;
                        if m.is_empty() {
                            return Err(Error::Invalid(format!(
                                "group {g:?} has no hosts; change the schedule (`patchdesk automation schedule scan:{g} --off`)"
                            )));
                        }
                        m
                    }
                    _ => Vec::new(),
                };
                let opts = ScanOptions {
                    concurrency: settings.concurrency,
                    ssh: settings.ssh_options(),
                    passphrase: self.hooks.passphrase.clone(),
                    ..ScanOptions::default()
                };
                let s = scan::scan_hosts(inv, &names, &opts, progress, token.clone()).await?;
                if s.cancelled {
                    return Err(Error::Cancelled);
                }
                let failed: Vec<String> = s
                    .hosts
                    .iter()
                    .filter(|h| !h.ok)
                    .map(|h| format!("{}: {}", h.host, h.error.as_deref().unwrap_or("failed")))
                    .collect();
                let mut out = Outcome::ok(format!(
                    "{} host(s) scanned, {} failed",
                    s.succeeded(),
                    failed.len()
                ));
                out.found_patches = s.succeeded() > 0;
                if !failed.is_empty() {
                    out.error = Some(Error::Invalid(crate::text::clip(&failed.join("; "), 1500)));
                    if s.succeeded() == 0 {
                        out.state = JobState::Failed;
                    }
                }
                Ok(out)
            }
            (JobKind::FeedSync, _) => {
                let sources = crate::advisory::sources(inv)?;
                if sources.is_empty() {
                    return Ok(Outcome::ok(
                        "no feed to sync (`patchdesk advisories sync --from URL` adds one)".into(),
                    ));
                }
                let mut lines = Vec::new();
                let mut errors = Vec::new();
                for s in &sources {
                    if token.is_cancelled() {
                        return Err(Error::Cancelled);
                    }
                    match crate::classify::sync_feed(inv, &s.location) {
                        Ok(r) => lines.push(format!("{}: {}", r.location, r.outcome)),
                        Err(e) => errors.push(format!("{}: {e}", s.location)),
                    }
                    progress(&ProgressEvent {
                        job: "feed-sync",
                        host: None,
                        phase: crate::progress::Phase::Running,
                        done: lines.len() + errors.len(),
                        total: sources.len(),
                        message: s.location.clone(),
                    });
                }
                let mut out = Outcome::ok(format!(
                    "{} feed(s) synced{}",
                    lines.len(),
                    if lines.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", lines.join(", "))
                    }
                ));
                out.found_patches = !lines.is_empty();
                if !errors.is_empty() {
                    out.error = Some(Error::Invalid(crate::text::clip(&errors.join("; "), 1500)));
                    if lines.is_empty() {
                        out.state = JobState::Failed;
                    }
                }
                Ok(out)
            }
            (JobKind::WeeklyReport, _) => {
                let render = self.hooks.render.clone();
                let done = crate::report::run_scheduled(inv, &*render)?;
                let mut out = Outcome::ok(if done.is_empty() {
                    "snapshots taken; no report to write (none due, or no reports folder in Settings)".into()
                } else {
                    done.iter()
                        .map(|d| d.notification.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                });
                out.notices = done
                    .iter()
                    .map(|d| Notice {
                        title: d.notification.clone(),
                        body: d
                            .open
                            .as_ref()
                            .map(|p| format!("Click to open {}", p.display()))
                            .unwrap_or_default(),
                        deployment_id: None,
                        open: d.open.as_ref().map(|p| p.to_string_lossy().into_owned()),
                    })
                    .collect();
                Ok(out)
            }
            (JobKind::DeploymentAdvance, JobScope::Deployment(id)) => {
                let id = *id;
                let before = rollout::status(inv, id)?;
                let ssh = settings.ssh_options();
                let after = tokio::select! {
                    // Refused while another process (a person's `deploy go`) holds it: the job
                    // fails with who holds it, and the next tick tries again.
                    r = rollout::advance(inv, id, "auto", &ssh, rollout::OnBusy::Refuse, progress) => r?,
                    _ = token.cancelled() => return Err(Error::Cancelled),
                };
                policy::observe(inv, &after)?;
                let mut out = Outcome::ok(describe_advance(&before, &after));
                out.notices = advance_notices(inv, &before, &after)?;
                Ok(out)
            }
            (kind, scope) => Err(Error::Invalid(format!(
                "a {} job cannot run on {}",
                kind.as_str(),
                scope.label()
            ))),
        }
    }
}

fn describe_advance(before: &DeploymentStatus, after: &DeploymentStatus) -> String {
    let stage = |st: &DeploymentStatus| {
        st.stages
            .get(usize::try_from(st.current_stage).unwrap_or(usize::MAX))
            .map(|s| format!("{} {}", s.name, s.state.as_str()))
            .unwrap_or_else(|| "past its last stage".into())
    };
    format!(
        "deployment {} {}: {} → {}{}",
        after.id,
        after.name,
        stage(before),
        if after.state == DeploymentState::Running {
            stage(after)
        } else {
            after.state.as_str().to_string()
        },
        after
            .waiting_for
            .as_deref()
            .map(|w| format!(" (waits for {w})"))
            .unwrap_or_default()
    )
}

/// What an advance did that a person should hear about: gates passed by themselves, a halt
/// with its reason, a rollback, the end (with the time to patch of a policy deployment).
pub(super) fn advance_notices(
    inv: &Inventory,
    before: &DeploymentStatus,
    after: &DeploymentStatus,
) -> Result<Vec<Notice>> {
    let mut out = Vec::new();
    let n = |title: String, body: String| Notice {
        title,
        body,
        deployment_id: Some(after.id),
        open: None,
    };
    for (b, a) in before.stages.iter().zip(&after.stages) {
        if b.decision.is_none()
            && a.decision == Some(GateVerdict::Go)
            && a.decided_by.as_deref() == Some("auto")
        {
            out.push(n(
                format!("{}: {} gate passed by itself", after.name, a.name),
                format!(
                    "{} host(s) healthy after the stage; the deployment goes on.",
                    a.hosts
                        .iter()
                        .filter(|h| h.state == HostState::Applied)
                        .count()
                ),
            ));
        }
        if b.decision.is_none() && a.decision == Some(GateVerdict::NoGo) {
            let reasons = a
                .reasons
                .iter()
                .filter(|r| r.is_no_go())
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            out.push(n(
                format!("{}: halted at the {} gate (no-go)", after.name, a.name),
                format!(
                    "{}{}",
                    crate::text::clip(&reasons, 400),
                    if after.state == DeploymentState::RolledBack {
                        ". The stage's hosts were rolled back by policy."
                    } else {
                        ". Open the deployment to roll back the affected hosts."
                    }
                ),
            ));
        }
    }
    if before.state != after.state && after.state == DeploymentState::RolledBack {
        let hosts: Vec<&str> = after
            .stages
            .iter()
            .flat_map(|s| &s.hosts)
            .filter(|h| h.state == HostState::RolledBack)
            .map(|h| h.host.as_str())
            .collect();
        out.push(n(
            format!("{}: rollback done", after.name),
            format!(
                "{} back on their previous versions (verified by a rescan).",
                hosts.join(", ")
            ),
        ));
    }
    if before.state != after.state && after.state == DeploymentState::Finished {
        let ttp = policy::actions(inv, 1000)?
            .into_iter()
            .find(|a| a.deployment_id == Some(after.id))
            .and_then(|a| a.disclosure_to_done_secs)
            .map(|s| format!(" Disclosure to last host patched: {}.", span(s)))
            .unwrap_or_default();
        out.push(n(
            format!("{}: finished", after.name),
            format!("Every host of the deployment is patched.{ttp}"),
        ));
    }
    Ok(out)
}

/// `2d 3h 5m` (never negative).
pub fn span(secs: i64) -> String {
    let x = secs.max(0);
    let (d, h, m) = (x / 86_400, (x % 86_400) / 3600, (x % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {}s", x % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn view(stage: Option<StageState>, auto: bool) -> DeploymentView {
        DeploymentView {
            id: 1,
            running: true,
            auto,
            stage_state: stage,
            window_opens_at: None,
            window_closed: false,
            last_failure: None,
        }
    }

    #[test]
    fn which_deployments_one_advance_can_move() {
        let now = t("2026-11-24T12:00:00Z");
        // (view, due?)
        let cases = [
            (view(Some(StageState::Pending), false), true),
            (view(Some(StageState::Applied), false), true),
            (view(Some(StageState::Soaking), true), false),
            (view(Some(StageState::Gate), true), true),
            (view(Some(StageState::Gate), false), false),
            (view(None, true), false),
            (
                DeploymentView {
                    running: false,
                    ..view(Some(StageState::Pending), true)
                },
                false,
            ),
            // A closed window: waits; once its opening time is reached, due.
            (
                DeploymentView {
                    window_closed: true,
                    window_opens_at: Some(t("2026-11-24T22:00:00Z")),
                    ..view(Some(StageState::Pending), true)
                },
                false,
            ),
            (
                DeploymentView {
                    window_closed: true,
                    window_opens_at: Some(t("2026-11-24T11:59:00Z")),
                    ..view(Some(StageState::Pending), true)
                },
                true,
            ),
            // A failed advance is retried after 10 minutes, not at every tick.
            (
                DeploymentView {
                    last_failure: Some(t("2026-11-24T11:55:00Z")),
                    ..view(Some(StageState::Gate), true)
                },
                false,
            ),
            (
                DeploymentView {
                    last_failure: Some(t("2026-11-24T11:50:00Z")),
                    ..view(Some(StageState::Gate), true)
                },
                true,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(advance_due(now, &v), want, "{v:?}");
        }
    }
}
