//! Generated reports: writing a report's files into a folder, their history, the scheduled
//! weekly run and its notification text. Rendering itself is passed in (the
//! `patchdesk-report` crate renders PDF, CSV and JSON), so the engine stays free of it.

use super::{close_weeks, weekly_report, IsoWeek, Paper, Scope, WeeklyReport};
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::settings::Settings;
use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Who asked for a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Cli,
    App,
    Scheduled,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::App => "app",
            Origin::Scheduled => "scheduled",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "cli" => Origin::Cli,
            "scheduled" => Origin::Scheduled,
            _ => Origin::App,
        }
    }
}

/// A file format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Pdf,
    Csv,
    Json,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Pdf => "pdf",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "pdf" => ReportFormat::Pdf,
            "csv" => ReportFormat::Csv,
            _ => ReportFormat::Json,
        }
    }
}

/// One rendered file, named relative to the folder it goes into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub name: String,
    pub format: ReportFormat,
    pub bytes: Vec<u8>,
}

/// One generated report file, as remembered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HistoryEntry {
    pub id: i64,
    pub scope: Scope,
    pub week: IsoWeek,
    pub generated_at: DateTime<Utc>,
    pub origin: Origin,
    pub format: ReportFormat,
    pub path: String,
    pub bytes: i64,
    /// The report's compliance % (so the history reads as a list of results).
    pub percent: Option<f64>,
}

/// Remember a generated file (its own small transaction).
pub fn record_generated(
    inv: &Inventory,
    report: &WeeklyReport,
    origin: Origin,
    format: ReportFormat,
    path: &Path,
    bytes: u64,
) -> Result<i64> {
    inv.conn().execute(
        "INSERT INTO report_history (scope, week, generated_at, origin, format, path, bytes, percent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            report.scope.key(),
            report.week.to_string(),
            report.generated_at,
            origin.as_str(),
            format.as_str(),
            path.to_string_lossy(),
            i64::try_from(bytes).unwrap_or(i64::MAX),
            report.summary.compliance.percent
        ],
    )?;
    Ok(inv.conn().last_insert_rowid())
}

/// The generated reports, newest first.
pub fn history(inv: &Inventory, limit: usize) -> Result<Vec<HistoryEntry>> {
    let mut stmt = inv.conn().prepare_cached(
        "SELECT id, scope, week, generated_at, origin, format, path, bytes, percent FROM report_history ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, DateTime<Utc>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, Option<f64>>(8)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(id, scope, week, at, origin, format, path, bytes, percent)| {
                Some(HistoryEntry {
                    id,
                    scope: Scope::from_key(&scope)?,
                    week: week.parse().ok()?,
                    generated_at: at,
                    origin: Origin::parse(&origin),
                    format: ReportFormat::parse(&format),
                    path,
                    bytes,
                    percent,
                })
            },
        )
        .collect())
}

/// A report written into a folder.
#[derive(Debug, Clone)]
pub struct GeneratedReport {
    pub report: WeeklyReport,
    pub files: Vec<PathBuf>,
}

/// Write a file whole or not at all: a temporary file in the same folder, renamed over.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.part",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Io(
                format!(
                    "cannot write {} (check the folder exists and is writable, or choose another)",
                    path.display()
                ),
                e,
            )
        })
}

/// Generate the weekly report of `scope` for `week` and write its files (as `render` makes
/// them) into `dir`, created if needed; each file is recorded in the history.
pub fn write_report(
    inv: &Inventory,
    scope: &Scope,
    week: Option<IsoWeek>,
    dir: &Path,
    origin: Origin,
    paper: Paper,
    render: &dyn Fn(&WeeklyReport, Paper) -> Result<Vec<RenderedFile>>,
) -> Result<GeneratedReport> {
    let report = weekly_report(inv, scope, week)?;
    let files = render(&report, paper)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Io(
            format!(
                "cannot create the reports folder {} (choose another in Settings)",
                dir.display()
            ),
            e,
        )
    })?;
    let mut written = Vec::new();
    for f in &files {
        let path = dir.join(&f.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Io(format!("cannot create {}", parent.display()), e))?;
        }
        write_atomic(&path, &f.bytes)?;
        record_generated(inv, &report, origin, f.format, &path, f.bytes.len() as u64)?;
        written.push(path);
    }
    Ok(GeneratedReport {
        report,
        files: written,
    })
}

/// One report the scheduled run wrote.
#[derive(Debug, Clone)]
pub struct ScheduledReport {
    pub scope: Scope,
    pub week: IsoWeek,
    /// The desktop notification's text ("Weekly report for web: 96.4 % compliant (+2.1)").
    pub notification: String,
    /// What the notification opens: the PDF when there is one.
    pub open: Option<PathBuf>,
    pub files: Vec<PathBuf>,
}

/// The scheduled weekly run, for the job runner to call at (or any time after) the end of each
/// policy week: takes the missing final snapshots of every scope ([`close_weeks`]), then — when
/// a reports folder is set in Settings — writes each scope's report for the week that ended into
/// `FOLDER/<week>/` unless the scheduler already did, and returns what to announce. Idempotent.
pub fn run_scheduled(
    inv: &Inventory,
    render: &dyn Fn(&WeeklyReport, Paper) -> Result<Vec<RenderedFile>>,
) -> Result<Vec<ScheduledReport>> {
    close_weeks(inv)?;
    let settings = Settings::load(inv)?;
    let Some(folder) = settings.reports_dir.clone() else {
        return Ok(Vec::new());
    };
    let week = IsoWeek::of(inv.clock().now()).prev();
    let mut done_stmt = inv.conn().prepare_cached(
        "SELECT count(*) FROM report_history WHERE scope = ?1 AND week = ?2 AND origin = 'scheduled'",
    )?;
    let mut out = Vec::new();
    for scope in Scope::all(inv)? {
        let done: i64 =
            done_stmt.query_row(params![scope.key(), week.to_string()], |r| r.get(0))?;
        if done > 0 {
            continue;
        }
        let g = write_report(
            inv,
            &scope,
            Some(week),
            &folder.join(week.to_string()),
            Origin::Scheduled,
            settings.report_paper,
            render,
        )?;
        out.push(ScheduledReport {
            notification: notification(&g.report),
            open: g
                .files
                .iter()
                .find(|p| p.extension().is_some_and(|e| e == "pdf"))
                .or(g.files.first())
                .cloned(),
            scope,
            week,
            files: g.files,
        });
    }
    Ok(out)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The one line announcing a report: "Weekly report for web: 96.4 % compliant (+2.1)" — the
/// change against the week before when that week has data.
pub fn notification(r: &WeeklyReport) -> String {
    let name = match &r.scope {
        Scope::Fleet => "the fleet".to_string(),
        s => s.label(),
    };
    let Some(p) = r.summary.compliance.percent else {
        return format!(
            "Weekly report for {name} ({}): no patch with a deadline",
            r.week
        );
    };
    let prev = r
        .trend
        .len()
        .checked_sub(2)
        .and_then(|i| r.trend.get(i))
        .filter(|t| t.has_data && t.week == r.week.prev())
        .and_then(|t| t.percent);
    let delta = match prev {
        Some(q) => {
            let d = round1(round1(p) - round1(q));
            if d == 0.0 {
                " (±0.0)".to_string()
            } else {
                format!(" ({d:+.1})")
            }
        }
        None => String::new(),
    };
    format!(
        "Weekly report for {name}: {:.1} % compliant{delta}",
        round1(p)
    )
}
