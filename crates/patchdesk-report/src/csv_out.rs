//! CSV: one file per table of the report, with a header row, raw values (numbers without units,
//! times in RFC 3339 UTC, lists space-separated) and complete lists (the PDF shortens long ones).
//! A text cell that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`) is prefixed with
//! `'`: host and package names and written reasons are untrusted.

use crate::text::bucket;
use crate::Error;
use chrono::{DateTime, Utc};
use patchdesk_engine::report::WeeklyReport;

fn t(x: DateTime<Utc>) -> String {
    x.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An enum's stored name (its serde name, as the JSON export writes it); empty for a value that
/// does not serialize to a string.
fn name<T: serde::Serialize>(x: T) -> String {
    serde_json::to_value(x)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map_or(String::new(), |v| v.to_string())
}

fn safe(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)
        .map_err(|e| Error::Csv(e.to_string()))?;
    for r in rows {
        w.write_record(r.iter().map(|c| safe(c)))
            .map_err(|e| Error::Csv(e.to_string()))?;
    }
    w.into_inner().map_err(|e| Error::Csv(e.to_string()))
}

/// The report's tables as (file name, CSV bytes).
pub fn tables(r: &WeeklyReport) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let s = &r.summary;
    let c = &s.compliance;
    let h = &s.hosts;
    let mut out = Vec::new();
    out.push((
        "summary.csv".to_string(),
        table(
            &[
                "scope",
                "week",
                "as_of",
                "complete",
                "generated_at",
                "compliance_percent",
                "compliant",
                "with_deadline",
                "overdue",
                "open_critical",
                "open_high",
                "open_moderate",
                "open_low",
                "nearest_deadline",
                "hosts",
                "scanned",
                "stale",
                "unreachable",
                "never_scanned",
                "reboot_pending",
                "oldest_scan",
                "oldest_scan_host",
                "compliance_verdict",
                "critical_ttp_verdict",
            ],
            vec![vec![
                r.scope.key(),
                r.week.to_string(),
                t(r.as_of),
                r.complete.to_string(),
                t(r.generated_at),
                opt(c.percent),
                c.compliant.to_string(),
                c.with_deadline.to_string(),
                c.overdue.to_string(),
                c.open_critical.to_string(),
                c.open_high.to_string(),
                c.open_moderate.to_string(),
                c.open_low.to_string(),
                opt(c.nearest_deadline.map(t)),
                h.total.to_string(),
                h.scanned.to_string(),
                h.stale.to_string(),
                h.unreachable.to_string(),
                h.never_scanned.to_string(),
                h.reboot_pending.to_string(),
                opt(s.freshness.oldest_scan.map(t)),
                opt(s.freshness.oldest_scan_host.clone()),
                name(r.verdicts.compliance),
                name(r.verdicts.critical_time_to_patch),
            ]],
        )?,
    ));
    out.push((
        "feeds.csv".into(),
        table(
            &["location", "format", "last_ok_at", "age_hours"],
            s.freshness
                .feeds
                .iter()
                .map(|f| {
                    vec![
                        f.location.clone(),
                        f.format.clone(),
                        opt(f.last_ok_at.map(t)),
                        opt(f.age_hours),
                    ]
                })
                .collect(),
        )?,
    ));
    out.push((
        "trend.csv".into(),
        table(
            &[
                "week",
                "has_data",
                "is_final",
                "compliance_percent",
                "overdue",
                "critical_patched",
                "critical_median_hours",
            ],
            r.trend
                .iter()
                .map(|p| {
                    vec![
                        p.week.to_string(),
                        p.has_data.to_string(),
                        p.is_final.to_string(),
                        opt(p.percent),
                        opt(p.overdue),
                        opt(p.critical_patched),
                        opt(p.critical_median_hours),
                    ]
                })
                .collect(),
        )?,
    ));
    let bucket_rows = |group: &str, b: &[patchdesk_engine::report::BucketFigures]| {
        b.iter()
            .map(|b| {
                vec![
                    group.to_string(),
                    bucket(b.bucket).to_string(),
                    b.open.to_string(),
                    b.overdue.to_string(),
                    b.patched.to_string(),
                    opt(b.median_hours),
                    opt(b.mean_hours),
                ]
            })
            .collect::<Vec<_>>()
    };
    let mut buckets = bucket_rows("", &s.buckets);
    for g in &s.groups {
        buckets.extend(bucket_rows(&g.group, &g.buckets));
    }
    out.push((
        "buckets.csv".into(),
        table(
            &[
                "group",
                "bucket",
                "open",
                "overdue",
                "applied",
                "median_hours",
                "mean_hours",
            ],
            buckets,
        )?,
    ));
    if !s.groups.is_empty() {
        out.push((
            "groups.csv".into(),
            table(
                &[
                    "group",
                    "hosts",
                    "scanned",
                    "stale",
                    "unreachable",
                    "never_scanned",
                    "reboot_pending",
                    "compliance_percent",
                    "compliant",
                    "with_deadline",
                    "overdue",
                    "open_critical",
                    "open_high",
                    "open_moderate",
                    "open_low",
                ],
                s.groups
                    .iter()
                    .map(|g| {
                        vec![
                            g.group.clone(),
                            g.hosts.total.to_string(),
                            g.hosts.scanned.to_string(),
                            g.hosts.stale.to_string(),
                            g.hosts.unreachable.to_string(),
                            g.hosts.never_scanned.to_string(),
                            g.hosts.reboot_pending.to_string(),
                            opt(g.compliance.percent),
                            g.compliance.compliant.to_string(),
                            g.compliance.with_deadline.to_string(),
                            g.compliance.overdue.to_string(),
                            g.compliance.open_critical.to_string(),
                            g.compliance.open_high.to_string(),
                            g.compliance.open_moderate.to_string(),
                            g.compliance.open_low.to_string(),
                        ]
                    })
                    .collect(),
            )?,
        ));
    }
    let patch = |rows: &[patchdesk_engine::report::PatchRow], overdue: bool| {
        rows.iter()
            .map(|p| {
                vec![
                    p.package.clone(),
                    p.candidate_version.clone(),
                    bucket(p.bucket).to_string(),
                    p.cves.join(" "),
                    p.advisories.join(" "),
                    p.hosts.len().to_string(),
                    p.hosts.join(" "),
                    opt(p.deadline.map(t)),
                    if overdue {
                        opt(p.days_overdue)
                    } else {
                        opt(p.hours_left)
                    },
                ]
            })
            .collect::<Vec<_>>()
    };
    out.push((
        "overdue.csv".into(),
        table(
            &[
                "package",
                "version",
                "bucket",
                "cves",
                "advisories",
                "host_count",
                "hosts",
                "deadline",
                "days_overdue",
            ],
            patch(&r.overdue, true),
        )?,
    ));
    out.push((
        "due_soon.csv".into(),
        table(
            &[
                "package",
                "version",
                "bucket",
                "cves",
                "advisories",
                "host_count",
                "hosts",
                "deadline",
                "hours_left",
            ],
            patch(&r.due_soon, false),
        )?,
    ));
    out.push((
        "deployments.csv".into(),
        table(
            &[
                "id",
                "name",
                "scope",
                "created_at",
                "outcome",
                "stages",
                "gates_passed",
                "no_go_reasons",
                "rolled_back_hosts",
            ],
            r.deployments
                .iter()
                .map(|d| {
                    vec![
                        d.id.to_string(),
                        d.name.clone(),
                        d.scope.clone(),
                        t(d.created_at),
                        name(d.outcome),
                        d.stages.to_string(),
                        d.gates_passed.to_string(),
                        d.no_go_reasons.join(" | "),
                        d.rolled_back_hosts.join(" "),
                    ]
                })
                .collect(),
        )?,
    ));
    out.push((
        "overrides.csv".into(),
        table(
            &[
                "deployment_id",
                "deployment",
                "at",
                "kind",
                "overridden",
                "reason",
                "by",
            ],
            r.overrides
                .iter()
                .map(|o| {
                    vec![
                        o.deployment_id.to_string(),
                        o.deployment.clone(),
                        t(o.at),
                        name(o.kind),
                        o.guard.clone(),
                        o.reason.clone(),
                        o.by.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        )?,
    ));
    out.push((
        "drills.csv".into(),
        table(
            &["group", "last_at", "ok", "age_days", "overdue"],
            r.drills
                .iter()
                .map(|d| {
                    vec![
                        d.group.clone(),
                        opt(d.last_at.map(t)),
                        opt(d.ok),
                        opt(d.age_days),
                        d.overdue.to_string(),
                    ]
                })
                .collect(),
        )?,
    ));
    out.push((
        "not_scanned.csv".into(),
        table(
            &[
                "host",
                "environment",
                "groups",
                "state",
                "last_ok_scan",
                "error",
            ],
            r.not_scanned
                .iter()
                .map(|h| {
                    vec![
                        h.host.clone(),
                        h.environment.clone(),
                        h.groups.join(" "),
                        name(h.state),
                        opt(h.last_ok_scan.map(t)),
                        h.error.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        )?,
    ));
    Ok(out)
}
