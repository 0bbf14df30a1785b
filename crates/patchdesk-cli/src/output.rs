//! Rendering for people (tables) and for scripts (JSON). Remote strings are printed as data;
//! control characters are stripped so a hostile host cannot drive the user's terminal.

use anyhow::Result;
use chrono::{DateTime, Utc};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use patchdesk_engine::advisory::SourceStatus;
use patchdesk_engine::classify::{Compliance, PatchItem};
use patchdesk_engine::inventory::{HostDetail, HostSummary, PackageHit, ScanRecord};
use patchdesk_engine::rollout::{ChangeKind, DeploymentStatus, Plan};
use patchdesk_engine::scan::ScanSummary;
use serde::Serialize;

pub fn json<T: Serialize + ?Sized>(v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v)?;
    crate::term::stdout(&(crate::term::json_escape(&text) + "\n"));
    Ok(())
}

/// One field of untrusted text on one line: the engine's sanitiser (control characters, terminal
/// escapes, bidi controls); every printed line is cleaned again on its way out (`term`).
fn safe(s: &str) -> String {
    patchdesk_engine::text::clean(s)
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(safe).unwrap_or_else(|| "-".into())
}

fn when(t: &Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t
}

/// The saved host filters.
pub fn host_filters(filters: &[patchdesk_engine::host_filter::SavedFilter]) {
    if filters.is_empty() {
        outln!("no saved filters. Save one with `patchdesk host filter save NAME --tag T`.");
        return;
    }
    let mut t = table();
    t.set_header(vec!["filter", "search", "group", "env", "tag", "saved"]);
    for f in filters {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        t.add_row(vec![
            f.name.clone(),
            f.filter.query.clone(),
            dash(&f.filter.group),
            f.filter
                .environment
                .map(|e| e.to_string())
                .unwrap_or_else(|| "-".into()),
            dash(&f.filter.tag),
            f.saved_at.format("%Y-%m-%d %H:%M").to_string(),
        ]);
    }
    outln!("{t}");
}

pub fn host_table(hosts: &[HostSummary]) {
    if hosts.is_empty() {
        outln!("no hosts yet. Add one with `patchdesk host add NAME ADDRESS` or `patchdesk host import FILE`.");
        return;
    }
    let mut t = table();
    t.set_header(vec![
        "host",
        "env",
        "groups",
        "tags",
        "os",
        "kernel",
        "pending",
        "security",
        "reboot",
        "last scan",
        "state",
    ]);
    for h in hosts {
        let ok = h.last_ok_scan.as_ref();
        t.add_row(vec![
            h.host.spec.name.clone(),
            h.host.spec.environment.to_string(),
            h.host.spec.groups.join(","),
            h.host.spec.tags.join(","),
            ok.map(|s| format!("{} {}", opt(&s.os_id), opt(&s.os_version)))
                .unwrap_or_else(|| "-".into()),
            ok.map(|s| opt(&s.kernel)).unwrap_or_else(|| "-".into()),
            if ok.is_some() {
                h.pending_count.to_string()
            } else {
                "-".into()
            },
            if ok.is_some() {
                h.security_count.to_string()
            } else {
                "-".into()
            },
            match ok.and_then(|s| s.reboot_required) {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "-".into(),
            },
            when(&h.last_scan.as_ref().map(|s| s.finished_at)),
            match &h.last_scan {
                None => "never scanned".into(),
                Some(s) if s.ok => "ok".into(),
                Some(s) => format!("error: {}", opt(&s.error_code)),
            },
        ]);
    }
    outln!("{t}");
}

pub fn host_detail(d: &HostDetail, history: &[ScanRecord], packages: bool) {
    let h = &d.summary.host;
    outln!(
        "{}  {}@{}:{}  ({})",
        h.spec.name,
        h.spec.user,
        h.spec.address,
        h.spec.port,
        h.spec.environment
    );
    outln!("  groups     {}", h.spec.groups.join(", "));
    outln!(
        "  host key   {}",
        h.host_key_fingerprint
            .clone()
            .unwrap_or_else(|| "not pinned yet".into())
    );
    match &d.summary.last_ok_scan {
        Some(s) => {
            outln!("  os         {}", opt(&s.os_pretty));
            outln!("  kernel     {} ({})", opt(&s.kernel), opt(&s.arch));
            outln!("  booted     {}", when(&s.booted_at));
            outln!(
                "  reboot     {}",
                if s.reboot_required == Some(true) {
                    format!(
                        "required ({})",
                        s.reboot_packages
                            .iter()
                            .map(|p| safe(p))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    "not required".into()
                }
            );
            outln!("  updated    {}", when(&s.last_update_at));
            outln!(
                "  scanned    {} ({} packages)",
                when(&Some(s.finished_at)),
                d.summary.package_count
            );
        }
        None => outln!("  never scanned successfully"),
    }
    if let Some(s) = d.summary.last_scan.as_ref().filter(|s| !s.ok) {
        outln!(
            "  LAST SCAN FAILED {}: {}",
            when(&Some(s.finished_at)),
            opt(&s.error_message)
        );
    }
    if !d.pending.is_empty() {
        let mut t = table();
        t.set_header(vec![
            "pending update",
            "installed",
            "candidate",
            "origin",
            "security",
        ]);
        for u in &d.pending {
            t.add_row(vec![
                safe(&u.name),
                safe(&u.installed_version),
                safe(&u.candidate_version),
                safe(&u.origin),
                if u.security {
                    "yes".into()
                } else {
                    "".to_string()
                },
            ]);
        }
        outln!("{t}");
    }
    if packages {
        let mut t = table();
        t.set_header(vec!["package", "version", "arch", "source"]);
        for p in &d.packages {
            t.add_row(vec![
                safe(&p.name),
                safe(&p.version),
                safe(&p.arch),
                safe(&p.source),
            ]);
        }
        outln!("{t}");
    }
    if !history.is_empty() {
        let mut t = table();
        t.set_header(vec![
            "scan",
            "finished",
            "ms",
            "result",
            "packages sent",
            "bytes",
        ]);
        for s in history {
            t.add_row(vec![
                s.id.to_string(),
                when(&Some(s.finished_at)),
                s.duration_ms.to_string(),
                if s.ok {
                    "ok".into()
                } else {
                    format!("error: {}", opt(&s.error_code))
                },
                if s.packages_transferred {
                    "yes".into()
                } else {
                    "no (unchanged)".to_string()
                },
                s.bytes_received.to_string(),
            ]);
        }
        outln!("{t}");
    }
}

pub fn package_hits(hits: &[PackageHit]) {
    if hits.is_empty() {
        outln!("no host has it");
        return;
    }
    let mut t = table();
    t.set_header(vec!["host", "package", "version", "arch", "source"]);
    for h in hits {
        t.add_row(vec![
            h.host.clone(),
            safe(&h.name),
            safe(&h.version),
            safe(&h.arch),
            safe(&h.source),
        ]);
    }
    outln!("{t}");
}

pub fn scan_summary(s: &ScanSummary) {
    let mut t = table();
    t.set_header(vec!["host", "result", "pending", "package list", "ms"]);
    for h in &s.hosts {
        t.add_row(vec![
            h.host.clone(),
            if h.ok {
                "ok".into()
            } else {
                format!(
                    "FAILED: {}",
                    h.error.as_deref().map(safe).unwrap_or_default()
                )
            },
            h.pending
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            if !h.ok {
                "-".into()
            } else if h.packages_transferred {
                "sent".into()
            } else {
                "unchanged".to_string()
            },
            h.duration_ms.to_string(),
        ]);
    }
    outln!("{t}");
    outln!(
        "{} ok, {} failed in {:.1}s",
        s.succeeded(),
        s.failed(),
        (s.finished_at - s.started_at).num_milliseconds() as f64 / 1000.0
    );
}

/// "3d 4h", "-2h 10m" (overdue).
pub fn countdown(secs: i64) -> String {
    let sign = if secs < 0 { "overdue " } else { "" };
    let s = secs.abs();
    let (d, h, m) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{sign}{d}d {h}h")
    } else {
        format!("{sign}{h}h {m}m")
    }
}

pub fn patches(items: &[PatchItem]) {
    if items.is_empty() {
        outln!("no pending patches (scan hosts and sync advisories first)");
        return;
    }
    let mut t = table();
    t.set_header(vec![
        "bucket",
        "host",
        "package",
        "installed → candidate",
        "CVEs",
        "CVSS",
        "deadline",
        "left",
    ]);
    for p in items {
        t.add_row(vec![
            format!("{:?}", p.bucket).to_lowercase(),
            p.host.clone(),
            safe(&p.package),
            format!(
                "{} → {}",
                safe(&p.installed_version),
                safe(&p.candidate_version)
            ),
            p.cves
                .iter()
                .map(|c| safe(&c.cve))
                .collect::<Vec<_>>()
                .join(" "),
            p.max_cvss
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into()),
            when(&p.deadline),
            p.seconds_left.map(countdown).unwrap_or_else(|| "-".into()),
        ]);
    }
    outln!("{t}");
}

pub fn compliance(c: &Compliance) {
    outln!("scope            {}", c.scope);
    match c.percent {
        Some(p) => outln!(
            "compliance       {p:.1}% ({} of {} patches inside their deadline)",
            c.compliant,
            c.with_deadline
        ),
        None => outln!("compliance       - (nothing has a deadline)"),
    }
    match c.hosts_percent {
        Some(p) => outln!(
            "fully patched    {p:.1}% ({} of {} hosts; {} unknown, never counted as patched)",
            c.hosts_fully_patched,
            c.hosts_total,
            c.hosts_unknown
        ),
        None => outln!("fully patched    - (no host)"),
    }
    if c.unknown_patches > 0 {
        outln!(
            "unknown          {} pending updates ({} security) on hosts whose last scan failed: not counted inside their deadline",
            c.unknown_patches,
            c.unknown_security
        );
    }
    outln!("overdue          {}", c.overdue);
    outln!(
        "open             critical {}, high {}, moderate {}, low {}",
        c.open_critical,
        c.open_high,
        c.open_moderate,
        c.open_low
    );
    outln!("nearest deadline {}", when(&c.nearest_deadline));
    for n in &c.not_assessed {
        outln!("not assessed     {}: {}", n.host, safe(&n.reason));
    }
    for t in &c.time_to_patch {
        if t.patched > 0 {
            outln!(
                "time-to-patch    {:?}: {} patched, mean {:.1} h, median {:.1} h",
                t.bucket,
                t.patched,
                t.mean_hours.unwrap_or(0.0),
                t.median_hours.unwrap_or(0.0)
            );
        }
    }
}

pub fn sources(s: &[SourceStatus]) {
    if s.is_empty() {
        outln!("no advisory feeds yet: `patchdesk advisories sync --from FILE|URL`");
        return;
    }
    let mut t = table();
    t.set_header(vec![
        "feed",
        "format",
        "advisories",
        "last good copy",
        "age",
        "last error",
    ]);
    for f in s {
        t.add_row(vec![
            f.location.clone(),
            f.format.clone(),
            f.advisory_count.to_string(),
            when(&f.last_ok_at),
            f.age_secs.map(countdown).unwrap_or_else(|| "-".into()),
            f.last_error.as_deref().map(safe).unwrap_or_default(),
        ]);
    }
    outln!("{t}");
}

pub fn plan(p: &Plan) {
    match p.deployment_id {
        Some(id) => outln!("deployment {id} planned"),
        None => outln!("plan NOT stored: blocked"),
    }
    for (i, s) in p.stages.iter().enumerate() {
        outln!("  stage {i} {:<8} {}", s.name, s.hosts.join(", "));
    }
    // The whole transaction of each host, each package with how a rollback restores it.
    let mut host = "";
    for c in &p.transaction {
        if c.host != host {
            host = &c.host;
            outln!("  {host}:");
        }
        outln!(
            "    {:<44} {:<22} rollback: {}",
            safe(&c.describe()),
            match (c.requested, c.kind) {
                (true, _) => "named",
                (false, ChangeKind::Install) => "new, pulled in by apt",
                (false, ChangeKind::Remove) => "REMOVED by apt",
                (false, ChangeKind::Upgrade) => "pulled in by apt",
            },
            safe(&c.rollback)
        );
    }
    for r in &p.rollback {
        outln!(
            "  rollback {}: {} ({})",
            r.host,
            if r.ok { "ok" } else { "NONE" },
            safe(&r.detail)
        );
    }
    for c in &p.smoke {
        outln!("  smoke test: {c}");
    }
    let r = &p.review;
    for s in &r.stage_checks {
        outln!(
            "  stage {} gate checks: {}{}",
            s.stage,
            s.checks.join(", "),
            if s.only_reachability {
                "  (NOTHING beyond reachability and versions: configure `patchdesk deploy checks`)"
            } else {
                ""
            }
        );
    }
    for x in &r.reboots {
        outln!(
            "  reboot {} in stage {}: {} (policy: {})",
            x.host,
            x.stage,
            safe(&x.why),
            match r.reboot_policy {
                patchdesk_engine::rollout::RebootPolicy::Never => "never: it stays pending",
                patchdesk_engine::rollout::RebootPolicy::AskAtGate => "asked at the gate",
                patchdesk_engine::rollout::RebootPolicy::InWindow => "rebooted inside the stage",
            }
        );
    }
    for l in &r.left_out {
        outln!("  left out {}: {}", l.host, safe(&l.reason));
    }
    if let Some(t) = r.canary_soak_ends {
        outln!(
            "  canary soak ends {} if started now",
            t.format("%Y-%m-%d %H:%M UTC")
        );
    }
    for (g, w) in &r.windows {
        outln!("  maintenance window of {g}: {}", safe(w));
    }
    for w in &p.warnings {
        outln!("  warning: {}", safe(w));
    }
    for g in &p.guards {
        match &g.overridden_by {
            Some(r) => outln!("  guard {} overridden ({r}): {}", g.code, safe(&g.message)),
            None => outln!("  BLOCKED {}: {}", g.code, safe(&g.message)),
        }
    }
}

pub fn deployment(d: &DeploymentStatus) {
    outln!(
        "deployment {} {:?} ({}, {} mode): {}",
        d.id,
        d.name,
        d.scope,
        d.mode,
        d.state
    );
    for s in &d.stages {
        outln!(
            "  {} stage {:<8} {:<8} {}{}",
            if s.idx == d.current_stage { "▶" } else { " " },
            s.name,
            s.state,
            s.hosts
                .iter()
                .map(|h| format!(
                    "{}={}{}{}",
                    h.host,
                    h.state,
                    if h.pinned { "(pinned)" } else { "" },
                    if h.excluded.is_some() {
                        "(excluded)"
                    } else {
                        ""
                    }
                ))
                .collect::<Vec<_>>()
                .join(" "),
            match (&s.decision, &s.override_reason) {
                (Some(x), Some(r)) =>
                    format!("  [{x}, overriding the engine's no-go: {}]", safe(r)),
                (Some(x), None) => format!("  [{x}]"),
                _ => String::new(),
            }
        );
        for r in &s.reasons {
            outln!("      {}", safe(&r.to_string()));
        }
        for h in &s.hosts {
            if let Some(r) = &h.excluded {
                outln!("      {}: excluded ({})", h.host, safe(r));
            }
            if let Some(n) = &h.note {
                outln!("      {}: {}", h.host, safe(n));
            }
            if let (Some(e), None) = (&h.error, &h.excluded) {
                outln!("      {}: {}", h.host, safe(e));
            }
            if !h.checks.is_empty() {
                outln!("      {} checklist:", h.host);
                for c in &h.checks {
                    outln!("        {}", check_line(c));
                }
            }
        }
    }
    for (code, reason) in &d.overrides {
        outln!("  plan guard {code} overridden: {}", safe(reason));
    }
    if let Some(w) = &d.waiting_for {
        outln!("waiting for {}", safe(w));
    }
}

/// `✓ HTTP http://…/: HTTP 200×5, p50 3 ms (baseline HTTP 200×5, p50 2 ms)`, with the reason
/// after a dash when it failed or is inconclusive.
pub fn check_line(c: &patchdesk_engine::rollout::CheckResult) -> String {
    use patchdesk_engine::rollout::CheckStatus;
    let mark = match c.status {
        CheckStatus::Passed => "✓",
        CheckStatus::Failed => "✗",
        CheckStatus::Inconclusive => "?",
        CheckStatus::NotConfigured => "–",
    };
    let mut line = format!("{mark} {}", safe(&c.label));
    match (&c.value, c.status) {
        (Some(v), _) => line += &format!(": {}", safe(v)),
        (None, CheckStatus::NotConfigured) if c.detail.is_none() => line += ": not configured",
        _ => {}
    }
    if let Some(b) = &c.baseline {
        line += &format!(" (baseline {})", safe(b));
    }
    match c.status {
        CheckStatus::Inconclusive => {
            line += &format!(
                " — inconclusive: {}",
                safe(c.detail.as_deref().unwrap_or("no evidence"))
            )
        }
        _ => {
            if let Some(d) = &c.detail {
                line += &format!(" — {}", safe(d));
            }
        }
    }
    line
}

pub fn audit(rows: &[patchdesk_engine::inventory::AuditEntry]) {
    for a in rows {
        outln!(
            "{}  {:<10} {:<8} {:<14} {:<6} {}{}{}",
            a.at.format("%Y-%m-%d %H:%M:%S"),
            a.actor,
            a.host.as_deref().unwrap_or("-"),
            a.action,
            a.phase,
            a.exit_status
                .map(|s| format!("exit {s}  "))
                .unwrap_or_default(),
            safe(a.command.as_deref().unwrap_or("")),
            a.detail
                .as_deref()
                .map(|d| format!("  ({})", safe(d)))
                .unwrap_or_default()
        );
    }
}
