use super::*;
use crate::clock::{Clock, ManualClock};
use crate::facts::{HostFacts, Package, PendingUpdate};
use crate::host::HostSpec;
use crate::inventory::ScanOutcome;
use chrono::{DateTime, Utc};
use std::sync::Arc;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn setup() -> (Inventory, ManualClock) {
    let clock = ManualClock::new(t("2026-11-24T12:00:00Z"));
    let mut inv = Inventory::open_in_memory(Arc::new(clock.clone())).unwrap();
    let host = |n: &str, env: Environment, groups: &[&str]| {
        let mut h = HostSpec::new(n, "127.0.0.1");
        h.environment = env;
        h.groups = groups.iter().map(|g| g.to_string()).collect();
        h
    };
    for h in [
        host("web-1", Environment::Prod, &["web"]),
        host("web-2", Environment::Prod, &["web"]),
        host("db-1", Environment::NonProd, &["db"]),
        host("down-1", Environment::Prod, &["dark"]),
    ] {
        inv.add_host(&h).unwrap();
    }
    inv.conn()
        .execute_batch(
            "INSERT INTO advisory_sources (location, format, last_ok_at, advisory_count) VALUES ('osv.json', 'osv', '2026-11-24 06:00:00+00:00', 2);
             INSERT INTO advisories (source_id, advisory_id, cve, package, release, fixed_version, cvss_score, vendor_severity, disclosed_at, summary)
               VALUES (1, 'DSA-1', 'CVE-2026-1001', 'pd-hello', '', '1.1-1', 9.8, 'critical', '2026-11-20 09:00:00+00:00', 'remote code execution');",
        )
        .unwrap();
    (inv, clock)
}

/// A successful scan of `host` with pd-hello at `version` (an update to 1.1-1 pending below it).
fn scan(inv: &mut Inventory, host: &str, at: DateTime<Utc>, version: &str) {
    let pending = if version == "1.1-1" {
        vec![]
    } else {
        vec![PendingUpdate {
            name: "pd-hello".into(),
            arch: "amd64".into(),
            installed_version: version.into(),
            candidate_version: "1.1-1".into(),
            origin: "bookworm-security".into(),
            security: true,
            held: false,
        }]
    };
    let facts = HostFacts {
        os_id: "debian".into(),
        os_version: "12".into(),
        kernel: "6.1.0".into(),
        state_fingerprint: format!("{host}-{version}"),
        packages: Some(vec![Package {
            name: "pd-hello".into(),
            version: version.into(),
            arch: "amd64".into(),
            source: "pd-hello".into(),
            source_version: version.into(),
            status: "ii".into(),
        }]),
        pending: Some(pending),
        ..Default::default()
    };
    inv.record_scan(
        host,
        at,
        at,
        &ScanOutcome::Ok {
            facts: Box::new(facts),
            bytes_received: 1,
        },
        None,
    )
    .unwrap();
    crate::classify::update_exposures(inv, host, at).unwrap();
}

fn fail(inv: &mut Inventory, host: &str, at: DateTime<Utc>) {
    inv.record_scan(
        host,
        at,
        at,
        &ScanOutcome::Failed {
            code: "unreachable".into(),
            message: "cannot connect to 127.0.0.9: connection refused".into(),
            bytes_received: 0,
        },
        None,
    )
    .unwrap();
}

fn web() -> Scope {
    Scope::Group("web".into())
}

fn w(s: &str) -> IsoWeek {
    s.parse().unwrap()
}

/// Week 48: everything scanned Tuesday; web-1 patched Wednesday; the critical deadline (Friday
/// 09:00) passes with web-2 and db-1 unpatched.
fn week_48(inv: &mut Inventory, clock: &ManualClock) {
    let t0 = clock.now();
    for h in ["web-1", "web-2", "db-1"] {
        scan(inv, h, t0, "1.0-1");
    }
    fail(inv, "down-1", t0);
    clock.set(t("2026-11-25T12:00:00Z"));
    scan(inv, "web-1", clock.now(), "1.1-1");
}

fn without_generated_at(mut r: WeeklyReport) -> WeeklyReport {
    r.generated_at = DateTime::<Utc>::UNIX_EPOCH;
    r
}

#[test]
fn metrics_are_measured_as_of_an_instant() {
    let (mut inv, clock) = setup();
    week_48(&mut inv, &clock);
    // Tuesday: 3 critical patches open, none overdue; nothing applied yet.
    let tue = t("2026-11-24T18:00:00Z");
    let c = compliance(&inv, &Scope::Fleet, tue).unwrap();
    assert_eq!(
        (c.open_critical, c.overdue, c.with_deadline, c.compliant),
        (3, 0, 3, 3)
    );
    assert_eq!(c.ttp(crate::classify::Bucket::Critical).unwrap().patched, 0);
    // Saturday: web-1 was patched in 123 h, the two others are overdue.
    let sat = t("2026-11-28T12:00:00Z");
    let c = compliance(&inv, &Scope::Fleet, sat).unwrap();
    assert_eq!(
        (c.open_critical, c.overdue, c.with_deadline, c.compliant),
        (2, 2, 3, 1)
    );
    let ttp = c.ttp(crate::classify::Bucket::Critical).unwrap();
    assert_eq!((ttp.patched, ttp.median_hours), (1, Some(123.0)));
    // The same instant seen from later: a scan after it changes nothing.
    clock.set(t("2026-12-02T12:00:00Z"));
    scan(&mut inv, "web-2", clock.now(), "1.1-1");
    assert_eq!(compliance(&inv, &Scope::Fleet, sat).unwrap(), c);
    // Scopes: a group, an environment.
    let wc = compliance(&inv, &web(), sat).unwrap();
    assert_eq!(
        (wc.scope.as_str(), wc.with_deadline, wc.overdue),
        ("web", 2, 1)
    );
    let np = compliance(&inv, &Scope::Environment(Environment::NonProd), sat).unwrap();
    assert_eq!(
        (np.scope.as_str(), np.with_deadline, np.overdue),
        ("non-prod", 1, 1)
    );
    // "now" through classify's path agrees with the report's.
    let now = clock.now();
    assert_eq!(
        crate::classify::compliance(&inv, &Scope::Fleet, now).unwrap(),
        compliance(&inv, &Scope::Fleet, now).unwrap()
    );
}

#[test]
fn a_closed_week_reads_the_same_whenever_it_is_generated() {
    let (mut inv, clock) = setup();
    week_48(&mut inv, &clock);
    // During the week: provisional figures as of now, stored as a provisional snapshot.
    let mid = weekly_report(&inv, &web(), None).unwrap();
    assert_eq!(mid.week, w("2026-W48"));
    assert!(!mid.complete);
    assert_eq!(mid.as_of, clock.now());
    let s = snapshot(&inv, &web(), w("2026-W48")).unwrap().unwrap();
    assert!(!s.is_final);

    // Monday of week 49: the week has ended; its report is measured at Sunday 23:59:59.
    clock.set(t("2026-11-30T08:00:00Z"));
    let first = weekly_report(&inv, &web(), Some(w("2026-W48"))).unwrap();
    assert!(first.complete);
    assert_eq!(first.as_of, t("2026-11-29T23:59:59Z"));
    assert_eq!(first.summary.compliance.percent, Some(50.0));
    assert_eq!(first.overdue.len(), 1);
    assert_eq!(first.overdue[0].hosts, ["web-2"]);
    assert_eq!(first.overdue[0].cves, ["CVE-2026-1001"]);
    assert_eq!(first.overdue[0].days_overdue, Some(2));
    assert!(
        snapshot(&inv, &web(), w("2026-W48"))
            .unwrap()
            .unwrap()
            .is_final
    );

    // Week 49: web-2 patched, a new host joins web; week 50: another advisory arrives.
    clock.set(t("2026-12-01T12:00:00Z"));
    scan(&mut inv, "web-2", clock.now(), "1.1-1");
    let mut h = HostSpec::new("web-3", "127.0.0.3");
    h.groups = vec!["web".into()];
    inv.add_host(&h).unwrap();
    clock.set(t("2026-12-09T12:00:00Z"));
    scan(&mut inv, "web-3", clock.now(), "1.0-1");
    let again = weekly_report(&inv, &web(), Some(w("2026-W48"))).unwrap();
    assert_eq!(
        without_generated_at(again),
        without_generated_at(first.clone())
    );

    // The current week's report shows the trend: W48 final, W49 no data (no snapshot was
    // taken), W50 now; earlier weeks no data.
    let now = weekly_report(&inv, &web(), None).unwrap();
    assert_eq!(now.week, w("2026-W50"));
    assert_eq!(now.trend.len(), TREND_WEEKS);
    let by_week = |wk: &str| now.trend.iter().find(|p| p.week == w(wk)).unwrap().clone();
    assert!(by_week("2026-W48").has_data && by_week("2026-W48").is_final);
    assert_eq!(by_week("2026-W48").percent, Some(50.0));
    assert!(!by_week("2026-W49").has_data && by_week("2026-W49").percent.is_none());
    assert!(by_week("2026-W50").has_data);
    assert!(!by_week("2026-W47").has_data);
    // A week that has not started is refused.
    let e = weekly_report(&inv, &web(), Some(w("2027-W10"))).unwrap_err();
    assert!(e.to_string().contains("has not started yet"), "{e}");
}

#[test]
fn missed_weeks_are_caught_up_exactly_once() {
    let (mut inv, clock) = setup();
    week_48(&mut inv, &clock);
    assert!(
        close_weeks(&inv).unwrap().is_empty(),
        "week 48 is still running"
    );
    // The scheduler was off for two weeks: week 48 and 49 are caught up, each as of its end.
    clock.set(t("2026-12-08T09:00:00Z"));
    let done = close_weeks(&inv).unwrap();
    let scopes = Scope::all(&inv).unwrap();
    assert_eq!(
        scopes.len(),
        1 + 2 + 3,
        "fleet, prod and non-prod, three groups"
    );
    assert_eq!(done.len(), scopes.len() * 2);
    assert!(close_weeks(&inv).unwrap().is_empty(), "exactly once");
    let s48 = snapshot(&inv, &Scope::Fleet, w("2026-W48"))
        .unwrap()
        .unwrap();
    assert!(s48.is_final);
    assert_eq!(s48.as_of, t("2026-11-29T23:59:59Z"));
    assert_eq!(s48.summary.compliance.overdue, 2);
    assert_eq!(s48.summary.groups.len(), 3, "a section per group");
    // A final snapshot is never replaced.
    let mut changed = s48.clone();
    changed.summary.compliance.overdue = 99;
    assert!(!snapshot::store(&inv, &changed).unwrap());
    assert_eq!(
        snapshot(&inv, &Scope::Fleet, w("2026-W48"))
            .unwrap()
            .unwrap(),
        s48
    );
    // Notification: W49 against W48.
    let r = weekly_report(&inv, &Scope::Fleet, Some(w("2026-W49"))).unwrap();
    let (p48, p49) = (
        r.trend[r.trend.len() - 2].percent.unwrap(),
        r.summary.compliance.percent.unwrap(),
    );
    let d = ((p49 * 10.0).round() - (p48 * 10.0).round()) / 10.0;
    let expect = if d == 0.0 {
        format!("Weekly report for the fleet: {p49:.1} % compliant (±0.0)")
    } else {
        format!("Weekly report for the fleet: {p49:.1} % compliant ({d:+.1})")
    };
    assert_eq!(notification(&r), expect);
}

#[test]
fn notification_text() {
    let (mut inv, clock) = setup();
    week_48(&mut inv, &clock);
    clock.set(t("2026-11-30T08:00:00Z"));
    close_weeks(&inv).unwrap();
    clock.set(t("2026-12-01T12:00:00Z"));
    scan(&mut inv, "web-2", clock.now(), "1.1-1");
    let mut r = weekly_report(&inv, &web(), None).unwrap();
    // W48: 1 of 2 in time; W49: web-2 patched, but after its deadline: still 1 of 2.
    assert_eq!(
        notification(&r),
        "Weekly report for web: 50.0 % compliant (±0.0)"
    );
    let n = r.trend.len();
    r.summary.compliance.percent = Some(96.44);
    r.trend[n - 2].percent = Some(94.3);
    assert_eq!(
        notification(&r),
        "Weekly report for web: 96.4 % compliant (+2.1)"
    );
    r.trend[n - 2].has_data = false;
    assert_eq!(notification(&r), "Weekly report for web: 96.4 % compliant");
    let empty = weekly_report(&inv, &Scope::Group("nobody".into()), None).unwrap();
    assert_eq!(
        notification(&empty),
        "Weekly report for nobody (2026-W49): no patch with a deadline"
    );
}

#[test]
fn empty_and_unreachable_scopes_make_sound_reports() {
    let (mut inv, clock) = setup();
    week_48(&mut inv, &clock);
    let empty = weekly_report(&inv, &Scope::Group("nobody".into()), None).unwrap();
    assert_eq!(empty.summary.hosts.total, 0);
    assert_eq!(empty.summary.compliance.percent, None);
    assert_eq!(empty.verdicts.compliance, Verdict::NoData);
    assert!(empty.trend.iter().all(|p| !p.has_data));
    assert!(empty.overdue.is_empty() && empty.not_scanned.is_empty());
    let dark = weekly_report(&inv, &Scope::Group("dark".into()), None).unwrap();
    assert_eq!(dark.summary.hosts.unreachable, 1);
    assert_eq!(dark.not_scanned.len(), 1);
    assert_eq!(dark.not_scanned[0].state, ScanState::Unreachable);
    assert!(dark.not_scanned[0]
        .error
        .as_deref()
        .unwrap()
        .contains("connection refused"));
    assert_eq!(dark.drills[0].group, "dark");
    assert!(dark.drills[0].overdue, "never drilled");
    // Stale after 24 h.
    clock.set(t("2026-11-27T13:00:00Z"));
    let fleet = weekly_report(&inv, &Scope::Fleet, None).unwrap();
    assert_eq!(fleet.summary.hosts.stale, 3);
    assert_eq!(
        fleet.summary.freshness.oldest_scan_host.as_deref(),
        Some("db-1")
    );
    assert_eq!(fleet.summary.freshness.feeds[0].age_hours, Some(79.0));
    // JSON round trip (the stable format).
    let j = serde_json::to_string(&fleet).unwrap();
    let back: WeeklyReport = serde_json::from_str(&j).unwrap();
    assert_eq!(back, fleet);
    assert!(j.contains("\"scope\":{\"kind\":\"fleet\"}"), "{j}");
}

#[test]
fn deployments_overrides_and_drills_in_the_period() {
    let (mut inv, clock) = setup();
    week_48(&mut inv, &clock);
    // A deployment planned Tuesday with an overridden guard; canary go Wednesday, no-go
    // Thursday, web-2 rolled back Thursday.
    inv.conn()
        .execute_batch(
            "INSERT INTO deployments (name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides)
               VALUES ('hello <fix> & co', 'web', '2026-11-24 13:00:00+00:00', '2026-11-26 10:00:00+00:00', 'halted', 1, 'manual', 0, '[]', '[]', '{\"no-canary\":\"web has no non-prod host; accepted by Ana\"}');
             INSERT INTO deployment_stages (deployment_id, idx, name, state, started_at, decision, reasons, decided_at)
               VALUES (1, 0, 'canary', 'done', '2026-11-24 14:00:00+00:00', 'go', '[]', '2026-11-25 09:00:00+00:00'),
                      (1, 1, '100%', 'failed', '2026-11-26 08:00:00+00:00', 'no-go', '[{\"verdict\":\"no-go\",\"host\":\"web-2\",\"message\":\"smoke test failed\"}]', '2026-11-26 10:00:00+00:00');
             INSERT INTO deployment_hosts (deployment_id, host_id, stage_idx, state) VALUES (1, 1, 0, 'applied'), (1, 2, 1, 'rolled-back');",
        )
        .unwrap();
    clock.set(t("2026-11-26T11:00:00Z"));
    inv.audit(
        "patchdesk",
        Some("web-2"),
        "rollback",
        "after",
        Some("apt-get …"),
        Some(0),
        None,
        None,
    )
    .unwrap();
    inv.audit(
        "user",
        None,
        "rollback-drill",
        "note",
        None,
        None,
        None,
        Some("group web deployment 9: ok"),
    )
    .unwrap();
    let r = weekly_report(&inv, &web(), None).unwrap();
    assert_eq!(r.deployments.len(), 1);
    let d = &r.deployments[0];
    assert_eq!(d.outcome, DeploymentOutcome::Halted);
    // A gate passed over a no-go and an excluded host, each with its reason (schema 5).
    inv.conn()
        .execute_batch(
            "UPDATE deployment_stages SET override_reason = 'flaky smoke test, checked by hand', decided_by = 'ana' WHERE deployment_id = 1 AND idx = 0;
             UPDATE deployment_hosts SET excluded_reason = 'host retired', excluded_at = '2026-11-26 10:30:00+00:00', excluded_by = 'ana' WHERE deployment_id = 1 AND host_id = 1;",
        )
        .unwrap();
    let r = weekly_report(&inv, &web(), None).unwrap();
    let kinds: Vec<(OverrideKind, &str, Option<&str>)> = r
        .overrides
        .iter()
        .map(|o| (o.kind, o.reason.as_str(), o.by.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                OverrideKind::Guard,
                "web has no non-prod host; accepted by Ana",
                None
            ),
            (
                OverrideKind::Gate,
                "flaky smoke test, checked by hand",
                Some("ana")
            ),
            (OverrideKind::Exclusion, "host retired", Some("ana")),
        ]
    );
    assert_eq!(r.overrides[2].guard, "host web-1 excluded");
    assert_eq!((d.stages, d.gates_passed), (2, 1));
    assert_eq!(d.no_go_reasons, ["NO-GO web-2: smoke test failed"]);
    assert_eq!(d.rolled_back_hosts, ["web-2"]);
    assert_eq!(r.overrides.len(), 3);
    assert_eq!(r.overrides[0].kind, OverrideKind::Guard);
    assert_eq!(r.overrides[0].guard, "no-canary");
    assert!(r.overrides[0].reason.contains("accepted by Ana"));
    assert_eq!(r.drills[0].ok, Some(true));
    assert!(!r.drills[0].overdue);
    // Seen from Wednesday noon: running, one gate passed, nothing rolled back yet.
    clock.set(t("2026-11-25T12:00:00Z"));
    let r = weekly_report(&inv, &web(), None).unwrap();
    let d = &r.deployments[0];
    assert_eq!(d.outcome, DeploymentOutcome::Running);
    assert!(d.no_go_reasons.is_empty() && d.rolled_back_hosts.is_empty());
    assert_eq!(r.drills[0].last_at, None);
    // Not in the db group's report; a week later it is no longer "in the period".
    assert!(weekly_report(&inv, &Scope::Group("db".into()), None)
        .unwrap()
        .deployments
        .is_empty());
    clock.set(t("2026-12-08T12:00:00Z"));
    assert!(weekly_report(&inv, &web(), None)
        .unwrap()
        .deployments
        .is_empty());
}

#[test]
fn scheduled_run_writes_each_scope_once_into_the_folder() {
    let (mut inv, clock) = setup();
    week_48(&mut inv, &clock);
    let dir = tempfile::tempdir().unwrap();
    let render = |r: &WeeklyReport, paper: Paper| -> Result<Vec<RenderedFile>> {
        assert_eq!(paper, Paper::Letter);
        Ok(vec![RenderedFile {
            name: format!("{}-{}.json", r.scope.file_stem(), r.week),
            format: ReportFormat::Json,
            bytes: serde_json::to_vec(r).unwrap(),
        }])
    };
    clock.set(t("2026-11-30T06:00:00Z"));
    // No folder set: only the snapshots are taken.
    assert!(run_scheduled(&inv, &render).unwrap().is_empty());
    assert!(
        snapshot(&inv, &web(), w("2026-W48"))
            .unwrap()
            .unwrap()
            .is_final
    );
    let mut s = crate::settings::Settings::load(&inv).unwrap();
    s.reports_dir = Some(dir.path().to_path_buf());
    s.report_paper = Paper::Letter;
    s.save(&inv).unwrap();
    let done = run_scheduled(&inv, &render).unwrap();
    assert_eq!(done.len(), Scope::all(&inv).unwrap().len());
    let web_done = done.iter().find(|d| d.scope == web()).unwrap();
    assert_eq!(
        web_done.notification,
        "Weekly report for web: 50.0 % compliant"
    );
    let file = web_done.open.clone().unwrap();
    assert_eq!(file, dir.path().join("2026-W48/group-web-2026-W48.json"));
    let back: WeeklyReport = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(back.week, w("2026-W48"));
    assert!(
        run_scheduled(&inv, &render).unwrap().is_empty(),
        "idempotent"
    );
    let h = history(&inv, 100).unwrap();
    assert_eq!(h.len(), done.len());
    assert!(h
        .iter()
        .all(|e| e.origin == Origin::Scheduled && e.week == w("2026-W48")));
    // A relative folder is refused, nothing saved.
    s.reports_dir = Some("reports".into());
    assert!(s.save(&inv).is_err());
    assert_eq!(
        crate::settings::Settings::load(&inv)
            .unwrap()
            .reports_dir
            .as_deref(),
        Some(dir.path())
    );
}

#[test]
fn scopes_and_paper_parse() {
    for s in [
        Scope::Fleet,
        Scope::Group("a:b/c".into()),
        Scope::Environment(Environment::NonProd),
    ] {
        assert_eq!(Scope::from_key(&s.key()), Some(s.clone()));
    }
    assert_eq!(Scope::Group("a:b/c".into()).file_stem(), "group-a_b_c");
    assert_eq!("Letter".parse::<Paper>().unwrap(), Paper::Letter);
    assert!("A5".parse::<Paper>().is_err());
}

#[test]
fn unknown_hosts_are_never_compliant_nor_fully_patched() {
    let (mut inv, clock) = setup();
    let t0 = clock.now();
    // web-1 fully patched, web-2 with the critical update pending (inside its deadline), db-1
    // never scanned, down-1 never read.
    scan(&mut inv, "web-1", t0, "1.1-1");
    scan(&mut inv, "web-2", t0, "1.0-1");
    fail(&mut inv, "down-1", t0);
    let c = compliance(&inv, &Scope::Fleet, t0).unwrap();
    assert_eq!(
        (c.with_deadline, c.compliant, c.percent, c.unknown_patches),
        (1, 1, Some(100.0), 0)
    );
    assert_eq!(
        (c.hosts_total, c.hosts_fully_patched, c.hosts_unknown),
        (4, 1, 2)
    );
    assert_eq!(c.hosts_percent, Some(25.0));
    // web-2 becomes unreachable: its pending security update (from the last good scan) is of
    // unknown state, never inside its deadline, so the figure is no longer 100 %.
    let t1 = t("2026-11-24T14:00:00Z");
    fail(&mut inv, "web-2", t1);
    let c = compliance(&inv, &Scope::Fleet, t1).unwrap();
    assert_eq!(
        (
            c.with_deadline,
            c.compliant,
            c.unknown_patches,
            c.unknown_security
        ),
        (1, 0, 1, 1)
    );
    assert_eq!(c.percent, Some(0.0));
    assert_eq!((c.hosts_fully_patched, c.hosts_unknown), (1, 3));
    // web-1 unreachable too: a fully patched host whose last scan failed is unknown, not patched.
    fail(&mut inv, "web-1", t1);
    let c = compliance(&inv, &Scope::Fleet, t1).unwrap();
    assert_eq!((c.hosts_fully_patched, c.hosts_unknown), (0, 4));
    assert_eq!(c.hosts_percent, Some(0.0));
    // Back: both read again, web-2 patched.
    let t2 = t("2026-11-24T16:00:00Z");
    scan(&mut inv, "web-1", t2, "1.1-1");
    scan(&mut inv, "web-2", t2, "1.1-1");
    let c = compliance(&inv, &web(), t2).unwrap();
    assert_eq!(
        (
            c.hosts_total,
            c.hosts_fully_patched,
            c.hosts_unknown,
            c.unknown_patches
        ),
        (2, 2, 0, 0)
    );
    assert_eq!((c.percent, c.hosts_percent), (Some(100.0), Some(100.0)));
    // The weekly report says the same as the function the CLI and the app call.
    clock.set(t2);
    let r = weekly_report(&inv, &web(), None).unwrap();
    assert_eq!(
        (
            r.summary.compliance.hosts_fully_patched,
            r.summary.compliance.percent
        ),
        (2, Some(100.0))
    );
}
