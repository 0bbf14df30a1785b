//! Reports: the last stage of the pipeline. Owns the metrics *as of* an instant (compliance %,
//! open and overdue patches per bucket, time-to-patch, scan freshness), the weekly snapshots
//! that trends read (tables `report_snapshots`, `report_snapshot_buckets`), the weekly report
//! data structure (built in one read transaction), the history of generated reports
//! (`report_history`) and what the scheduled weekly job calls.
//!
//! Must not touch hosts, render documents (PDF and CSV live in the `patchdesk-report` crate, so
//! their heavy dependencies stay out of the engine) or recompute history: a snapshot taken for
//! a week that has ended is final and is never written again; a week without a snapshot is
//! shown as "no data", never interpolated.
//!
//! What the scheduler (the job runner) calls, once the policy week (an ISO week, Monday 00:00
//! UTC) has ended: [`run_scheduled`] — it takes the missing snapshots of every scope
//! ([`close_weeks`]), writes each scope's report for the week that ended into the folder chosen
//! in Settings ([`write_report`]) unless that was already done, and returns for each report the
//! notification text ([`notification`]) and the file to open. Every step is idempotent: run it
//! as often as you like; a missed week is caught up exactly once.

mod build;
mod job;
mod metrics;
mod snapshot;
mod week;

pub use build::{
    weekly_report, DeploymentOutcome, DeploymentRow, DrillRow, FeedAge, Freshness, GroupSummary,
    HostRow, OverrideKind, OverrideRow, PatchRow, Summary, Targets, TrendPoint, TtpVerdict,
    Verdict, Verdicts, WeeklyReport, FORMAT_VERSION, TREND_WEEKS,
};
pub use job::{
    history, notification, record_generated, run_scheduled, write_report, GeneratedReport,
    HistoryEntry, Origin, RenderedFile, ReportFormat, ScheduledReport,
};
pub use metrics::{
    compliance, not_assessed, Compliance, HostCounts, NotAssessed, ScanState, TimeToPatch,
    Unassessed, STALE_AFTER_HOURS,
};
pub use snapshot::{close_weeks, snapshot, BucketFigures, Snapshot};
pub use week::IsoWeek;

use crate::classify::PatchFilter;
use crate::error::{Error, Result};
use crate::host::Environment;
use crate::inventory::Inventory;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a report covers: one group, one environment, or the whole fleet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Scope {
    Fleet,
    Group(String),
    Environment(Environment),
}

impl Scope {
    /// The key stored with snapshots and history: `fleet`, `group:NAME`, `env:prod`.
    pub fn key(&self) -> String {
        match self {
            Scope::Fleet => "fleet".into(),
            Scope::Group(g) => format!("group:{g}"),
            Scope::Environment(e) => format!("env:{e}"),
        }
    }

    /// The inverse of [`Scope::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        if key == "fleet" {
            return Some(Scope::Fleet);
        }
        if let Some(g) = key.strip_prefix("group:") {
            return Some(Scope::Group(g.to_string()));
        }
        key.strip_prefix("env:")
            .and_then(|e| e.parse().ok())
            .map(Scope::Environment)
    }

    /// A short name: the group, the environment, or `fleet`.
    pub fn label(&self) -> String {
        match self {
            Scope::Fleet => "fleet".into(),
            Scope::Group(g) => g.clone(),
            Scope::Environment(e) => e.to_string(),
        }
    }

    /// For people: "group web", "environment prod", "the whole fleet".
    pub fn title(&self) -> String {
        match self {
            Scope::Fleet => "the whole fleet".into(),
            Scope::Group(g) => format!("group {g}"),
            Scope::Environment(e) => format!("environment {e}"),
        }
    }

    /// A file-name-safe stem: `fleet`, `group-web`, `env-prod` (characters outside
    /// `[A-Za-z0-9._-]` become `_`).
    pub fn file_stem(&self) -> String {
        let raw = match self {
            Scope::Fleet => "fleet".to_string(),
            Scope::Group(g) => format!("group-{g}"),
            Scope::Environment(e) => format!("env-{e}"),
        };
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The patch filter selecting this scope's hosts.
    pub fn filter(&self) -> PatchFilter {
        match self {
            Scope::Fleet => PatchFilter::default(),
            Scope::Group(g) => PatchFilter {
                group: Some(g.clone()),
                ..PatchFilter::default()
            },
            Scope::Environment(e) => PatchFilter {
                environment: Some(*e),
                ..PatchFilter::default()
            },
        }
    }

    /// Every scope that has hosts now: the fleet, each environment in use, each group.
    pub fn all(inv: &Inventory) -> Result<Vec<Scope>> {
        let mut out = vec![Scope::Fleet];
        let mut envs: Vec<Environment> = inv
            .host_summaries()?
            .iter()
            .map(|h| h.host.spec.environment)
            .collect();
        envs.sort_by_key(|e| e.as_str());
        envs.dedup();
        out.extend(envs.into_iter().map(Scope::Environment));
        out.extend(inv.groups()?.into_iter().map(|(g, _)| Scope::Group(g)));
        Ok(out)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title())
    }
}

/// Paper size of the PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum Paper {
    #[default]
    A4,
    Letter,
}

impl std::str::FromStr for Paper {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "a4" => Ok(Paper::A4),
            "letter" | "us-letter" => Ok(Paper::Letter),
            other => Err(Error::Invalid(format!(
                "unknown paper size {other:?}: use a4 or letter"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
