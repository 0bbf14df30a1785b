//! The job store and the runner on an in-memory inventory (the fleet tests run them on real
//! hosts: crates/patchdesk-cli/tests/fleet_automation.rs).

use super::*;
use crate::inventory::test_util::inv;
use chrono::Duration;
use std::sync::{Arc, Mutex};

type Seen<T> = Arc<Mutex<Vec<T>>>;

fn collecting() -> (RunnerHooks, Seen<JobEvent>, Seen<Notice>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let (e, n) = (events.clone(), notices.clone());
    let hooks = RunnerHooks {
        on_event: Arc::new(move |ev: &JobEvent| e.lock().unwrap().push(ev.clone())),
        on_notice: Arc::new(move |no: &Notice| n.lock().unwrap().push(no.clone())),
        ..RunnerHooks::silent()
    };
    (hooks, events, notices)
}

#[tokio::test]
async fn defaults_are_owed_from_when_they_were_set_up() {
    let (mut inv, clock) = inv(); // 2026-11-24 12:00 UTC
    let rules = schedules(&inv).unwrap();
    assert_eq!(
        rules.iter().map(|r| r.rule.as_str()).collect::<Vec<_>>(),
        ["feed-sync", "scan", "weekly-report"]
    );
    assert!(rules.iter().all(|r| r.enabled));
    let mut runner = Runner::new("test", RunnerHooks::silent());
    let ran = runner.tick(&mut inv).await.unwrap();
    assert!(ran.is_empty(), "nothing owed this afternoon: {ran:?}");
    // Asleep until the day after tomorrow: each daily rule runs once, not twice.
    clock.advance(Duration::days(2));
    let ran = runner.tick(&mut inv).await.unwrap();
    let kinds: Vec<JobKind> = ran.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [JobKind::FeedSync, JobKind::Scan], "{ran:?}");
    assert!(ran
        .iter()
        .all(|r| r.who == Who::Schedule && r.state == JobState::Succeeded));
    assert!(runner.tick(&mut inv).await.unwrap().is_empty(), "once");
    // Monday 2026-11-30: the weekly report (and the daily ones of that day).
    clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-11-30T23:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    let ran = runner.tick(&mut inv).await.unwrap();
    assert!(
        ran.iter().any(|r| r.kind == JobKind::WeeklyReport),
        "{ran:?}"
    );
    assert_eq!(ran.len(), 3);
}

#[tokio::test]
async fn a_queued_job_runs_at_the_next_tick_with_its_events_tagged() {
    let (mut inv, _) = inv();
    let id = enqueue(&inv, JobKind::Scan, JobScope::All).unwrap();
    assert_eq!(queued(&inv).unwrap()[0].id, id);
    let (hooks, events, _) = collecting();
    let mut runner = Runner::new("test", hooks);
    let ran = runner.tick(&mut inv).await.unwrap();
    assert_eq!(ran.len(), 1);
    let r = &ran[0];
    assert_eq!((r.id, r.who, r.state), (id, Who::User, JobState::Succeeded));
    assert_eq!(r.result.as_deref(), Some("0 host(s) scanned, 0 failed"));
    assert!(r.runner.as_deref().unwrap().starts_with("test "));
    let ev = events.lock().unwrap();
    assert_eq!(ev.first().unwrap().phase, JobPhase::Started);
    assert_eq!(ev.last().unwrap().phase, JobPhase::Finished);
    assert!(
        ev.iter().all(|e| e.job_id == id),
        "every event names its job"
    );
    assert_eq!(ev.last().unwrap().record.as_ref().unwrap().id, id);
    assert!(queued(&inv).unwrap().is_empty());
}

#[tokio::test]
async fn a_cancelled_queued_job_never_runs_and_a_finished_one_cannot_be_cancelled() {
    let (mut inv, _) = inv();
    let id = enqueue(&inv, JobKind::FeedSync, JobScope::All).unwrap();
    assert_eq!(request_cancel(&inv, id).unwrap().state, JobState::Cancelled);
    let mut runner = Runner::new("test", RunnerHooks::silent());
    assert!(runner.tick(&mut inv).await.unwrap().is_empty());
    assert!(request_cancel(&inv, id).is_err());
    assert!(enqueue(&inv, JobKind::AutoCanary, JobScope::All).is_err());
}

#[tokio::test]
async fn paused_automation_runs_only_what_people_ask_for() {
    let (mut inv, clock) = inv();
    schedules(&inv).unwrap();
    pause(&inv, "user").unwrap();
    clock.advance(Duration::days(1));
    let o = overview(&inv, 10).unwrap();
    assert!(o.paused.is_some());
    assert!(o
        .upcoming
        .iter()
        .all(|u| u.why_not.as_deref().unwrap().contains("paused")));
    let mut runner = Runner::new("test", RunnerHooks::silent());
    assert!(runner.tick(&mut inv).await.unwrap().is_empty());
    enqueue(&inv, JobKind::Scan, JobScope::All).unwrap();
    assert_eq!(
        runner.tick(&mut inv).await.unwrap().len(),
        1,
        "asked for: runs"
    );
    resume(&inv, "user").unwrap();
    let ran = runner.tick(&mut inv).await.unwrap();
    assert_eq!(ran.len(), 2, "the owed daily jobs, once: {ran:?}");
    let actions: Vec<String> = inv
        .audit_entries(None, 10)
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(actions.contains(&"automation-pause".to_string()));
    assert!(actions.contains(&"automation-resume".to_string()));
}

#[tokio::test]
async fn a_job_left_running_by_a_dead_process_is_interrupted_and_owed_again() {
    let (mut inv, clock) = inv();
    schedules(&inv).unwrap();
    clock.advance(Duration::days(1));
    let slot = due(
        clock_now(&inv),
        &schedules(&inv).unwrap(),
        &last_runs(&inv).unwrap(),
    )
    .into_iter()
    .find(|j| j.kind == JobKind::Scan)
    .unwrap();
    // A runner that was killed mid-scan (its PID is gone).
    begin(&inv, &slot, None, "service 4000000000").unwrap();
    // While it runs (in any process) its slot counts as taken: nobody starts it twice.
    assert_eq!(last_runs(&inv).unwrap().get("scan"), Some(&slot.due));
    let mut runner = Runner::new("test", RunnerHooks::silent());
    let ran = runner.tick(&mut inv).await.unwrap();
    let h = history(&inv, 10).unwrap();
    let old = h
        .iter()
        .find(|j| j.runner.as_deref() == Some("service 4000000000"))
        .unwrap();
    assert_eq!(old.state, JobState::Interrupted);
    assert!(old.error.as_deref().unwrap().contains("next run continues"));
    assert_eq!(
        ran.iter().filter(|r| r.kind == JobKind::Scan).count(),
        1,
        "the interrupted slot runs again, once"
    );
}

fn clock_now(inv: &Inventory) -> chrono::DateTime<chrono::Utc> {
    inv.clock().now()
}

#[tokio::test]
async fn the_weekly_report_job_writes_and_announces_the_reports() {
    let (mut inv, clock) = inv();
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::settings::Settings::load(&inv).unwrap();
    s.reports_dir = Some(dir.path().to_path_buf());
    s.save(&inv).unwrap();
    inv.add_host(&crate::host::HostSpec {
        name: "h1".into(),
        address: "10.0.0.1".into(),
        port: 22,
        user: "root".into(),
        auth: crate::host::Auth::Agent,
        environment: crate::host::Environment::Prod,
        groups: vec!["web".into()],
        tags: vec![],
        notes: String::new(),
        proxy_jump: None,
    })
    .unwrap();
    let (mut hooks, events, notices) = collecting();
    hooks.render = Arc::new(|r, _| {
        Ok(vec![crate::report::RenderedFile {
            name: format!("{}.json", r.scope.key().replace(':', "-")),
            format: crate::report::ReportFormat::Json,
            bytes: b"{}".to_vec(),
        }])
    });
    let id = enqueue(&inv, JobKind::WeeklyReport, JobScope::All).unwrap();
    clock.advance(Duration::days(7));
    let mut runner = Runner::new("test", hooks);
    let ran = runner.tick(&mut inv).await.unwrap();
    let r = ran.iter().find(|r| r.id == id).unwrap();
    assert_eq!(r.state, JobState::Succeeded, "{r:?}");
    let n = notices.lock().unwrap();
    assert!(
        n.iter().any(|n| n.title.starts_with("Weekly report for")),
        "{n:?}"
    );
    assert!(n.iter().all(|n| n
        .open
        .as_ref()
        .is_none_or(|p| p.starts_with(&dir.path().to_string_lossy().into_owned()))));
    assert!(!events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_job_keeps_its_error_with_the_next_step() {
    let (mut inv, _) = inv();
    let id = enqueue(&inv, JobKind::Scan, JobScope::Group("nosuch".into())).unwrap();
    let mut runner = Runner::new("test", RunnerHooks::silent());
    let r = runner.tick(&mut inv).await.unwrap().remove(0);
    assert_eq!((r.id, r.state), (id, JobState::Failed));
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("automation schedule scan:nosuch --off"),
        "{r:?}"
    );
    assert_eq!(r.error_code.as_deref(), Some("invalid"));
}

#[test]
fn schedules_and_policies_are_validated_and_stored() {
    let (inv, _) = inv();
    let s = set_schedule(&inv, "scan", Some("06:15".parse().unwrap()), None, Some(0)).unwrap();
    assert_eq!(
        (s.when.describe(), s.jitter_secs),
        ("daily 06:15".into(), 0)
    );
    let s = set_schedule(&inv, "feed-sync", None, Some(false), None).unwrap();
    assert!(!s.enabled);
    assert!(set_schedule(&inv, "nope", None, None, None).is_err());
    assert!(set_schedule(&inv, "scan", None, None, Some(7200)).is_err());
    let g = set_schedule(
        &inv,
        "scan:web",
        Some("mon 05:00".parse().unwrap()),
        None,
        None,
    )
    .unwrap();
    assert_eq!(g.scope, JobScope::Group("web".into()));
    assert_eq!(schedules(&inv).unwrap().len(), 4);
    // A policy needs a real group.
    let mut p = AutomationPolicy::new("web");
    p.auto_canary = true;
    assert!(
        policy::set_policy(&inv, &p, "user").is_err(),
        "no such group yet"
    );
    p.waves = vec![50, 25];
    assert!(policy::set_policy(&inv, &p, "user").is_err());
    assert_eq!(
        policy::policy(&inv, "web").unwrap(),
        AutomationPolicy::new("web")
    );
    assert!(
        !policy::policy(&inv, "web").unwrap().auto_canary,
        "off by default"
    );
}

#[test]
fn scope_keys_round_trip() {
    for s in [
        JobScope::All,
        JobScope::Group("web".into()),
        JobScope::Deployment(42),
    ] {
        assert_eq!(JobScope::from_key(&s.key()), Some(s));
    }
    assert_eq!(JobScope::from_key("group:"), None);
    assert_eq!(JobScope::from_key("deployment:x"), None);
}

#[test]
fn two_runners_never_both_claim_a_job() {
    let (inv, _) = inv();
    let now = inv.clock().now();
    let job = |kind, scope, rule: Option<&str>| DueJob {
        kind,
        scope,
        rule: rule.map(str::to_string),
        who: Who::Policy,
        due: now,
    };
    let adv = job(JobKind::DeploymentAdvance, JobScope::Deployment(1), None);
    let a = begin(&inv, &adv, None, "app 1").unwrap();
    assert!(a.is_some());
    assert_eq!(
        begin(&inv, &adv, None, "service 2").unwrap(),
        None,
        "running elsewhere"
    );
    let other = job(JobKind::DeploymentAdvance, JobScope::Deployment(2), None);
    assert!(
        begin(&inv, &other, None, "service 2").unwrap().is_some(),
        "another deployment"
    );
    finish(&inv, a.unwrap(), JobState::Succeeded, None, None).unwrap();
    assert!(
        begin(&inv, &adv, None, "service 2").unwrap().is_some(),
        "free again"
    );
    // While an auto-canary job starts what it planned, no deployment is advanced elsewhere.
    let canary = job(JobKind::AutoCanary, JobScope::Group("web".into()), None);
    assert!(begin(&inv, &canary, None, "app 1").unwrap().is_some());
    let third = job(JobKind::DeploymentAdvance, JobScope::Deployment(3), None);
    assert_eq!(begin(&inv, &third, None, "service 2").unwrap(), None);
    // A schedule slot runs once.
    let scan = job(JobKind::Scan, JobScope::All, Some("scan"));
    let s = begin(&inv, &scan, None, "app 1").unwrap().unwrap();
    finish(&inv, s, JobState::Succeeded, None, None).unwrap();
    assert_eq!(
        begin(&inv, &scan, None, "service 2").unwrap(),
        None,
        "that slot ran"
    );
    // A queued job is started by one runner only.
    let q = enqueue(&inv, JobKind::FeedSync, JobScope::All).unwrap();
    let qj = job(JobKind::FeedSync, JobScope::All, None);
    assert_eq!(begin(&inv, &qj, Some(q), "app 1").unwrap(), Some(q));
    assert_eq!(begin(&inv, &qj, Some(q), "service 2").unwrap(), None);
}
