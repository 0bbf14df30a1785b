//! How figures read in the PDF: units, dates, verdicts, and the rows of each table.

use chrono::{DateTime, Utc};
use patchdesk_engine::classify::Bucket;
use patchdesk_engine::report::{
    BucketFigures, DeploymentOutcome, PatchRow, TtpVerdict, Verdict, WeeklyReport,
};

pub(crate) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A date and time in a table cell (the column title says UTC).
pub(crate) fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

pub(crate) fn day(t: DateTime<Utc>) -> String {
    t.format("%a %Y-%m-%d").to_string()
}

pub(crate) fn pct(p: Option<f64>) -> String {
    p.map_or("no data".into(), |p| format!("{p:.1} %"))
}

pub(crate) fn hours(h: Option<f64>) -> String {
    match h {
        None => "none yet".into(),
        Some(h) if h < 48.0 => format!("{h:.1} h"),
        Some(h) => format!("{:.1} days ({h:.0} h)", h / 24.0),
    }
}

pub(crate) fn bucket(b: Bucket) -> &'static str {
    match b {
        Bucket::Critical => "critical",
        Bucket::High => "high",
        Bucket::Moderate => "moderate",
        Bucket::Low => "low",
    }
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Missed => "MISSED",
        Verdict::NoData => "no data",
    }
}

fn ttp_verdict(v: TtpVerdict) -> &'static str {
    match v {
        TtpVerdict::Elite => "elite",
        TtpVerdict::OnTarget => "on target",
        TtpVerdict::Missed => "MISSED",
        TtpVerdict::NoData => "no data",
    }
}

pub(crate) fn outcome(o: DeploymentOutcome) -> &'static str {
    o.as_str()
}

/// A list for a PDF cell: at most `max` items, then how many more.
pub(crate) fn list(items: &[String], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!(
            "{}, … and {} more",
            items[..max].join(", "),
            items.len() - max
        )
    }
}

pub(crate) fn summary_rows(r: &WeeklyReport) -> Vec<Vec<String>> {
    let s = &r.summary;
    let c = &s.compliance;
    let crit = c.ttp(Bucket::Critical);
    let h = &s.hosts;
    vec![
        vec![
            "Compliance".into(),
            format!(
                "{} ({} of {} patches inside their deadline)",
                pct(c.percent),
                c.compliant,
                c.with_deadline
            ),
            format!("≥ {:.0} %", r.targets.compliance_percent),
            verdict(r.verdicts.compliance).into(),
        ],
        vec![
            "Critical time-to-patch (median)".into(),
            format!(
                "{} over {} critical patch(es) applied",
                hours(crit.and_then(|t| t.median_hours)),
                crit.map_or(0, |t| t.patched)
            ),
            format!(
                "≤ {:.0} days (elite 24–{:.0} h)",
                r.targets.critical_ttp_hours / 24.0,
                r.targets.elite_ttp_hours
            ),
            ttp_verdict(r.verdicts.critical_time_to_patch).into(),
        ],
        vec![
            "Overdue patches".into(),
            c.overdue.to_string(),
            "0".into(),
            if c.overdue == 0 { "met" } else { "MISSED" }.into(),
        ],
        vec![
            "Open patches".into(),
            format!(
                "{} critical, {} high, {} moderate, {} low",
                c.open_critical, c.open_high, c.open_moderate, c.open_low
            ),
            "".into(),
            "".into(),
        ],
        vec![
            "Nearest deadline".into(),
            c.nearest_deadline.map_or("none".into(), when),
            "".into(),
            "".into(),
        ],
        vec![
            "Hosts".into(),
            format!(
                "{} in scope: {} scanned within 24 h, {} stale, {} unreachable, {} never scanned; {} waiting for a reboot",
                h.total, h.scanned, h.stale, h.unreachable, h.never_scanned, h.reboot_pending
            ),
            "all scanned".into(),
            if h.total > 0 && h.scanned == h.total {
                "met"
            } else if h.total == 0 {
                "no data"
            } else {
                "MISSED"
            }
            .into(),
        ],
    ]
}

pub(crate) fn freshness_line(r: &WeeklyReport) -> String {
    let f = &r.summary.freshness;
    let scan = match (&f.oldest_scan, &f.oldest_scan_host) {
        (Some(t), Some(h)) => format!("oldest host scan {} ({h})", when(*t)),
        _ => "no host scanned".into(),
    };
    let feeds = if f.feeds.is_empty() {
        "no advisory feed configured".to_string()
    } else {
        f.feeds
            .iter()
            .map(|x| match x.age_hours {
                Some(a) => format!("{} ({}) {a:.1} h old", x.location, x.format),
                None => format!("{} ({}) not fetched by then", x.location, x.format),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!("Data freshness: {scan}; advisory feeds: {feeds}.")
}

pub(crate) fn trend_rows(r: &WeeklyReport) -> Vec<Vec<String>> {
    r.trend
        .iter()
        .rev()
        .map(|p| {
            if !p.has_data {
                return vec![
                    p.week.to_string(),
                    "no data".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                ];
            }
            vec![
                p.week.to_string(),
                pct(p.percent),
                p.overdue.map_or(String::new(), |o| o.to_string()),
                p.critical_patched.map_or(String::new(), |o| o.to_string()),
                hours(p.critical_median_hours),
                if p.week == r.week {
                    if r.complete {
                        "this report (final)"
                    } else {
                        "this report (provisional)"
                    }
                } else if p.is_final {
                    "final"
                } else {
                    "provisional"
                }
                .into(),
            ]
        })
        .collect()
}

pub(crate) fn bucket_rows(b: &[BucketFigures]) -> Vec<Vec<String>> {
    b.iter()
        .map(|b| {
            vec![
                bucket(b.bucket).into(),
                b.open.to_string(),
                b.overdue.to_string(),
                b.patched.to_string(),
                hours(b.median_hours),
                hours(b.mean_hours),
            ]
        })
        .collect()
}

pub(crate) fn group_rows(r: &WeeklyReport) -> Vec<Vec<String>> {
    r.summary
        .groups
        .iter()
        .map(|g| {
            vec![
                g.group.clone(),
                g.hosts.total.to_string(),
                (g.hosts.stale + g.hosts.unreachable + g.hosts.never_scanned).to_string(),
                pct(g.compliance.percent),
                g.compliance.overdue.to_string(),
                format!(
                    "{} / {}",
                    g.compliance.open_critical, g.compliance.open_high
                ),
                hours(
                    g.compliance
                        .ttp(Bucket::Critical)
                        .and_then(|t| t.median_hours),
                ),
            ]
        })
        .collect()
}

pub(crate) fn patch_rows(rows: &[PatchRow], overdue: bool) -> Vec<Vec<String>> {
    rows.iter()
        .map(|p| {
            vec![
                p.package.clone(),
                p.candidate_version.clone(),
                bucket(p.bucket).into(),
                // The vendor's advisory ids first, then the CVEs they fix.
                list(
                    &p.advisories
                        .iter()
                        .chain(&p.cves)
                        .cloned()
                        .collect::<Vec<_>>(),
                    20,
                ),
                list(&p.hosts, 60),
                p.deadline.map_or("none".into(), stamp),
                if overdue {
                    p.days_overdue.map_or(String::new(), |d| d.to_string())
                } else {
                    p.hours_left.map_or(String::new(), |d| d.to_string())
                },
            ]
        })
        .collect()
}

pub(crate) fn deployment_rows(r: &WeeklyReport) -> Vec<Vec<String>> {
    r.deployments
        .iter()
        .map(|d| {
            vec![
                d.id.to_string(),
                d.name.clone(),
                d.scope.clone(),
                outcome(d.outcome).into(),
                format!("{} of {}", d.gates_passed, d.stages),
                if d.no_go_reasons.is_empty() {
                    "-".into()
                } else {
                    d.no_go_reasons.join("; ")
                },
                if d.rolled_back_hosts.is_empty() {
                    "-".into()
                } else {
                    list(&d.rolled_back_hosts, 40)
                },
            ]
        })
        .collect()
}

pub(crate) fn override_rows(r: &WeeklyReport) -> Vec<Vec<String>> {
    r.overrides
        .iter()
        .map(|o| {
            vec![
                format!("#{} {}", o.deployment_id, o.deployment),
                stamp(o.at),
                o.guard.clone(),
                match &o.by {
                    Some(by) => format!("{} ({by})", o.reason),
                    None => o.reason.clone(),
                },
            ]
        })
        .collect()
}

pub(crate) fn drill_rows(r: &WeeklyReport) -> Vec<Vec<String>> {
    r.drills
        .iter()
        .map(|d| {
            vec![
                d.group.clone(),
                d.last_at.map_or("never".into(), stamp),
                match d.ok {
                    Some(true) => "ok".into(),
                    Some(false) => "FAILED".into(),
                    None => "-".into(),
                },
                d.age_days.map_or("-".into(), |a| a.to_string()),
                if d.overdue {
                    "OVERDUE (drill at least every 90 days)".into()
                } else {
                    "current".into()
                },
            ]
        })
        .collect()
}

pub(crate) fn host_rows(r: &WeeklyReport) -> Vec<Vec<String>> {
    r.not_scanned
        .iter()
        .map(|h| {
            vec![
                h.host.clone(),
                h.environment.clone(),
                h.groups.join(", "),
                h.state.as_str().into(),
                h.last_ok_scan.map_or("never".into(), stamp),
                h.error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect()
}
