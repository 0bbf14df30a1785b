//! The weekly report: a plain data structure (serde, ts-rs) built in one read transaction.
//! Renderers (PDF, CSV) and the shells only display it.

use super::metrics::{compliance_from, host_counts, scan_state, BUCKETS};
use super::snapshot::{self, BucketFigures, Snapshot};
use super::{Compliance, HostCounts, IsoWeek, ScanState, Scope};
use crate::classify::{self, Bucket, FixedExposure, PatchFilter, PatchItem, Policy};
use crate::error::{Error, Result};
use crate::inventory::{HostSummary, Inventory};
use crate::rollout::{DeploymentState, GateReason, GateVerdict, HostState};
use chrono::{DateTime, Duration, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The version of the report's JSON fields; raised only when a field changes meaning or goes.
pub const FORMAT_VERSION: u32 = 1;

/// Weeks shown in the trend (the report's week and the 11 before it).
pub const TREND_WEEKS: usize = 12;

/// The industry targets the summary is measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Targets {
    /// Compliance % at or above this is on target.
    pub compliance_percent: f64,
    /// Critical patches applied within this many hours of disclosure (7 days).
    pub critical_ttp_hours: f64,
    /// Elite teams: within 24 to 48 hours.
    pub elite_ttp_hours: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            compliance_percent: 95.0,
            critical_ttp_hours: 7.0 * 24.0,
            elite_ttp_hours: 48.0,
        }
    }
}

/// A figure against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Met,
    Missed,
    NoData,
}

/// Critical time-to-patch against the 7-day target and the elite 24–48 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "kebab-case")]
pub enum TtpVerdict {
    Elite,
    OnTarget,
    Missed,
    NoData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Verdicts {
    pub compliance: Verdict,
    /// Judged on the median critical time-to-patch.
    pub critical_time_to_patch: TtpVerdict,
}

/// How old the data behind the report was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Freshness {
    /// The oldest last good scan among the scope's scanned hosts, and whose it is.
    pub oldest_scan: Option<DateTime<Utc>>,
    pub oldest_scan_host: Option<String>,
    pub feeds: Vec<FeedAge>,
}

/// One advisory feed's age at the report's instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FeedAge {
    pub location: String,
    pub format: String,
    /// The last good copy's time, when it was on or before the report's instant.
    pub last_ok_at: Option<DateTime<Utc>>,
    pub age_hours: Option<f64>,
}

/// One group's figures (in the fleet report: a section per group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct GroupSummary {
    pub group: String,
    pub compliance: Compliance,
    pub hosts: HostCounts,
    pub buckets: Vec<BucketFigures>,
}

/// The headline figures of a scope at an instant. Once the week has ended they are stored in
/// the week's final snapshot and every later report of that week shows exactly these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Summary {
    pub compliance: Compliance,
    pub hosts: HostCounts,
    pub buckets: Vec<BucketFigures>,
    pub freshness: Freshness,
    /// The fleet report's section per group (empty for a group or environment).
    pub groups: Vec<GroupSummary>,
}

/// One week of the trend: the week's snapshot, or no data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TrendPoint {
    pub week: IsoWeek,
    /// False: no snapshot for that week, or no host of the scope had been scanned by then.
    /// Such a week is shown as "no data"; it is never interpolated.
    pub has_data: bool,
    /// The snapshot was taken after the week ended (it is the week's final figure).
    pub is_final: bool,
    pub percent: Option<f64>,
    pub overdue: Option<usize>,
    pub critical_median_hours: Option<f64>,
    pub critical_patched: Option<usize>,
}

/// Patches of one package to one version, across the scope's hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PatchRow {
    pub package: String,
    pub candidate_version: String,
    pub bucket: Bucket,
    pub cves: Vec<String>,
    /// The advisories behind those CVEs (a vendor's RLSA/ALSA/RHSA ids, a feed's DSA ids).
    #[serde(default)]
    pub advisories: Vec<String>,
    pub hosts: Vec<String>,
    /// The earliest deadline among the hosts.
    pub deadline: Option<DateTime<Utc>>,
    /// Whole days past the deadline at the report's instant (overdue rows).
    pub days_overdue: Option<i64>,
    /// Whole hours left until the deadline (rows due soon).
    pub hours_left: Option<i64>,
}

/// Where a deployment stood at the report's instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "kebab-case")]
pub enum DeploymentOutcome {
    Planned,
    Running,
    Finished,
    Halted,
    RolledBack,
}

impl DeploymentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentOutcome::Planned => "planned",
            DeploymentOutcome::Running => "running",
            DeploymentOutcome::Finished => "finished",
            DeploymentOutcome::Halted => "halted",
            DeploymentOutcome::RolledBack => "rolled back",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DeploymentRow {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub outcome: DeploymentOutcome,
    pub stages: usize,
    pub gates_passed: usize,
    pub no_go_reasons: Vec<String>,
    pub rolled_back_hosts: Vec<String>,
}

/// What a person overrode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "kebab-case")]
pub enum OverrideKind {
    /// A plan guard (no canary, no rollback path…), overridden when the plan was made.
    Guard,
    /// A go given at a gate the engine judged no-go.
    Gate,
    /// A host left out of the rest of a deployment.
    Exclusion,
}

/// A guard, a no-go gate or a host a person overrode, with the reason they wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OverrideRow {
    pub deployment_id: i64,
    pub deployment: String,
    pub at: DateTime<Utc>,
    pub kind: OverrideKind,
    /// The guard's code, the gate's stage, or the excluded host.
    pub guard: String,
    pub reason: String,
    /// Who (for gates and exclusions).
    pub by: Option<String>,
}

/// A group's last rollback drill at the report's instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DrillRow {
    pub group: String,
    pub last_at: Option<DateTime<Utc>>,
    pub ok: Option<bool>,
    pub age_days: Option<i64>,
    /// Never drilled, failed, or older than 90 days.
    pub overdue: bool,
}

/// A host whose data was not current at the report's instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostRow {
    pub host: String,
    pub environment: String,
    pub groups: Vec<String>,
    pub state: ScanState,
    pub last_ok_scan: Option<DateTime<Utc>>,
    /// The last scan's error, when it failed.
    pub error: Option<String>,
}

/// A weekly patch status report of one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct WeeklyReport {
    pub format_version: u32,
    pub scope: Scope,
    pub scope_title: String,
    pub week: IsoWeek,
    pub period_start: DateTime<Utc>,
    /// The week's last second.
    pub period_end: DateTime<Utc>,
    /// The instant every figure is measured at: the week's end, or now while the week runs.
    pub as_of: DateTime<Utc>,
    /// The week has ended: the figures are final.
    pub complete: bool,
    pub generated_at: DateTime<Utc>,
    pub policy: Policy,
    pub targets: Targets,
    pub verdicts: Verdicts,
    pub summary: Summary,
    /// The last 12 weeks, oldest first, ending with this one.
    pub trend: Vec<TrendPoint>,
    pub overdue: Vec<PatchRow>,
    /// Deadlines within the 7 days after the report's instant.
    pub due_soon: Vec<PatchRow>,
    /// Deployments with activity in the week (or running through it).
    pub deployments: Vec<DeploymentRow>,
    /// Guards overridden in deployments planned during the week, gates passed over a no-go and
    /// hosts excluded during the week, each with its written reason.
    pub overrides: Vec<OverrideRow>,
    pub drills: Vec<DrillRow>,
    /// Hosts never scanned, unreachable, or with a scan older than 24 hours.
    pub not_scanned: Vec<HostRow>,
}

/// What the engine knew at one instant, read once and sliced per scope.
pub(crate) struct Facts {
    pub at: DateTime<Utc>,
    pub hosts: Vec<HostSummary>,
    pub open: Vec<PatchItem>,
    pub fixed: Vec<FixedExposure>,
    pub feeds: Vec<FeedAge>,
}

impl Facts {
    pub(crate) fn load(inv: &Inventory, at: DateTime<Utc>) -> Result<Self> {
        let all = PatchFilter::default();
        let mut feeds = Vec::new();
        let mut stmt = inv.conn().prepare_cached(
            "SELECT location, format, last_ok_at FROM advisory_sources ORDER BY location",
        )?;
        for row in stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<DateTime<Utc>>>(2)?,
            ))
        })? {
            let (location, format, last_ok) = row?;
            let last_ok_at = last_ok.filter(|t| *t <= at);
            feeds.push(FeedAge {
                location,
                format,
                last_ok_at,
                age_hours: last_ok_at.map(|t| round1((at - t).num_seconds() as f64 / 3600.0)),
            });
        }
        Ok(Self {
            at,
            hosts: inv.host_summaries_at(at)?,
            open: classify::patches_at(inv, &all, at)?,
            fixed: classify::fixed_exposures_at(inv, &all, at)?,
            feeds,
        })
    }

    fn scope_hosts(&self, scope: &Scope) -> Vec<HostSummary> {
        let f = scope.filter();
        self.hosts
            .iter()
            .filter(|h| f.admits(&h.host.spec))
            .cloned()
            .collect()
    }

    fn scope_open(&self, scope: &Scope) -> Vec<PatchItem> {
        let names = self.names(scope);
        self.open
            .iter()
            .filter(|p| names.contains(p.host.as_str()))
            .cloned()
            .collect()
    }

    fn names(&self, scope: &Scope) -> BTreeSet<&str> {
        let f = scope.filter();
        self.hosts
            .iter()
            .filter(|h| f.admits(&h.host.spec))
            .map(|h| h.host.spec.name.as_str())
            .collect()
    }

    /// The summary figures of one scope (with a section per group for the fleet).
    pub(crate) fn summary(&self, scope: &Scope) -> Summary {
        let (compliance, hosts, buckets) = self.figures(scope);
        let scoped = self.scope_hosts(scope);
        let oldest = scoped
            .iter()
            .filter_map(|h| {
                h.last_ok_scan
                    .as_ref()
                    .map(|s| (s.finished_at, h.host.spec.name.clone()))
            })
            .min();
        let groups = if *scope == Scope::Fleet {
            let names: BTreeSet<String> = self
                .hosts
                .iter()
                .flat_map(|h| h.host.spec.groups.iter().cloned())
                .collect();
            names
                .into_iter()
                .map(|g| {
                    let (compliance, hosts, buckets) = self.figures(&Scope::Group(g.clone()));
                    GroupSummary {
                        group: g,
                        compliance,
                        hosts,
                        buckets,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Summary {
            compliance,
            hosts,
            buckets,
            freshness: Freshness {
                oldest_scan: oldest.as_ref().map(|(t, _)| *t),
                oldest_scan_host: oldest.map(|(_, h)| h),
                feeds: self.feeds.clone(),
            },
            groups,
        }
    }

    fn figures(&self, scope: &Scope) -> (Compliance, HostCounts, Vec<BucketFigures>) {
        let names = self.names(scope);
        let open = self.scope_open(scope);
        let fixed: Vec<FixedExposure> = self
            .fixed
            .iter()
            .filter(|f| names.contains(f.host.as_str()))
            .cloned()
            .collect();
        let scope_hosts = self.scope_hosts(scope);
        let compliance = compliance_from(scope, &open, &fixed, &scope_hosts);
        let hosts = host_counts(&scope_hosts, self.at);
        let buckets = BUCKETS
            .into_iter()
            .map(|b| {
                let ttp = compliance.ttp(b);
                BucketFigures {
                    bucket: b,
                    open: open.iter().filter(|p| p.bucket == b).count(),
                    overdue: open.iter().filter(|p| p.bucket == b && p.overdue).count(),
                    patched: ttp.map_or(0, |t| t.patched),
                    mean_hours: ttp.and_then(|t| t.mean_hours),
                    median_hours: ttp.and_then(|t| t.median_hours),
                }
            })
            .collect();
        (compliance, hosts, buckets)
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The weekly report of `scope` for `week` (the current week when `None`), measured as of the
/// week's end — or now, while the week runs. Built in one read transaction; afterwards the
/// week's snapshot is stored (final once the week has ended, and then never written again).
pub fn weekly_report(
    inv: &Inventory,
    scope: &Scope,
    week: Option<IsoWeek>,
) -> Result<WeeklyReport> {
    let now = inv.clock().now();
    let week = week.unwrap_or_else(|| IsoWeek::of(now));
    if week.start() > now {
        return Err(Error::Invalid(format!(
            "week {week} has not started yet (it is {} now): choose this week ({}) or an earlier one",
            IsoWeek::of(now),
            IsoWeek::of(now)
        )));
    }
    let complete = now > week.last_instant();
    let as_of = if complete { week.last_instant() } else { now };
    // One read transaction: every figure below comes from the same state of the database.
    let tx = inv.conn().unchecked_transaction()?;
    let stored = snapshot::snapshot(inv, scope, week)?;
    let facts = Facts::load(inv, as_of)?;
    let (summary, to_store) = match stored {
        Some(s) if s.is_final => (s.summary, None),
        _ => {
            let summary = facts.summary(scope);
            (summary.clone(), Some(summary))
        }
    };
    let mut trend = snapshot::trend(inv, scope, week, TREND_WEEKS)?;
    if let Some(last) = trend.last_mut().filter(|p| p.week == week) {
        *last = snapshot::trend_point(week, complete, &summary);
    }
    let open = facts.scope_open(scope);
    let mut report = WeeklyReport {
        format_version: FORMAT_VERSION,
        scope: scope.clone(),
        scope_title: scope.title(),
        week,
        period_start: week.start(),
        period_end: week.last_instant(),
        as_of,
        complete,
        generated_at: now,
        policy: Policy::load(inv)?,
        targets: Targets::default(),
        verdicts: verdicts(&summary, &Targets::default()),
        trend,
        overdue: patch_rows(open.iter().filter(|p| p.overdue), as_of, true),
        due_soon: patch_rows(
            open.iter().filter(|p| {
                !p.overdue && p.deadline.is_some_and(|d| d <= as_of + Duration::days(7))
            }),
            as_of,
            false,
        ),
        deployments: Vec::new(),
        overrides: Vec::new(),
        drills: Vec::new(),
        not_scanned: not_scanned(&facts.scope_hosts(scope), as_of),
        summary,
    };
    let names: BTreeSet<String> = facts.names(scope).into_iter().map(str::to_string).collect();
    (report.deployments, report.overrides) = deployments(inv, scope, &names, week, as_of)?;
    report.drills = drills(inv, &facts.scope_hosts(scope), scope, as_of)?;
    tx.commit()?;
    if let Some(summary) = to_store {
        snapshot::store(
            inv,
            &Snapshot {
                scope: scope.clone(),
                week,
                as_of,
                taken_at: now,
                is_final: complete,
                summary,
            },
        )?;
    }
    Ok(report)
}

pub(crate) fn verdicts(s: &Summary, t: &Targets) -> Verdicts {
    let compliance = match s.compliance.percent {
        None => Verdict::NoData,
        Some(p) if p >= t.compliance_percent => Verdict::Met,
        Some(_) => Verdict::Missed,
    };
    let critical_time_to_patch = match s
        .compliance
        .ttp(Bucket::Critical)
        .and_then(|t| t.median_hours)
    {
        None => TtpVerdict::NoData,
        Some(h) if h <= t.elite_ttp_hours => TtpVerdict::Elite,
        Some(h) if h <= t.critical_ttp_hours => TtpVerdict::OnTarget,
        Some(_) => TtpVerdict::Missed,
    };
    Verdicts {
        compliance,
        critical_time_to_patch,
    }
}

/// Group patches by package, version and bucket: one row lists every host that needs it.
fn patch_rows<'a>(
    items: impl Iterator<Item = &'a PatchItem>,
    as_of: DateTime<Utc>,
    overdue: bool,
) -> Vec<PatchRow> {
    let mut rows: BTreeMap<(Bucket, String, String), PatchRow> = BTreeMap::new();
    for p in items {
        let row = rows
            .entry((p.bucket, p.package.clone(), p.candidate_version.clone()))
            .or_insert_with(|| PatchRow {
                package: p.package.clone(),
                candidate_version: p.candidate_version.clone(),
                bucket: p.bucket,
                cves: Vec::new(),
                advisories: Vec::new(),
                hosts: Vec::new(),
                deadline: None,
                days_overdue: None,
                hours_left: None,
            });
        for c in &p.cves {
            if !row.cves.contains(&c.cve) {
                row.cves.push(c.cve.clone());
            }
            if !c.advisory_id.is_empty()
                && c.advisory_id != c.cve
                && !row.advisories.contains(&c.advisory_id)
            {
                row.advisories.push(c.advisory_id.clone());
            }
        }
        if !row.hosts.contains(&p.host) {
            row.hosts.push(p.host.clone());
        }
        row.deadline = match (row.deadline, p.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut out: Vec<PatchRow> = rows
        .into_values()
        .map(|mut r| {
            r.cves.sort();
            r.advisories.sort();
            r.hosts.sort();
            if let Some(d) = r.deadline {
                if overdue {
                    r.days_overdue = Some((as_of - d).num_days().max(0));
                } else {
                    r.hours_left = Some((d - as_of).num_hours().max(0));
                }
            }
            r
        })
        .collect();
    // Most urgent first: the oldest deadline, then bucket, then name.
    out.sort_by(|a, b| (a.deadline, a.bucket, &a.package).cmp(&(b.deadline, b.bucket, &b.package)));
    out
}

fn not_scanned(hosts: &[HostSummary], at: DateTime<Utc>) -> Vec<HostRow> {
    hosts
        .iter()
        .filter_map(|h| {
            let state = scan_state(h, at);
            (state != ScanState::Fresh).then(|| HostRow {
                host: h.host.spec.name.clone(),
                environment: h.host.spec.environment.to_string(),
                groups: h.host.spec.groups.clone(),
                state,
                last_ok_scan: h.last_ok_scan.as_ref().map(|s| s.finished_at),
                error: h
                    .last_scan
                    .as_ref()
                    .filter(|s| !s.ok)
                    .and_then(|s| s.error_message.clone()),
            })
        })
        .collect()
}

struct StageAt {
    name: String,
    override_reason: Option<String>,
    decided_by: Option<String>,
    started_at: Option<DateTime<Utc>>,
    decision: Option<GateVerdict>,
    reasons: Vec<GateReason>,
    decided_at: Option<DateTime<Utc>>,
}

/// Deployments touching the scope's hosts with activity in the week (planned, a stage started
/// or decided, a host rolled back) or running through it, each as it stood at `as_of`; and the
/// guards overridden in those planned during the week.
fn deployments(
    inv: &Inventory,
    scope: &Scope,
    names: &BTreeSet<String>,
    week: IsoWeek,
    as_of: DateTime<Utc>,
) -> Result<(Vec<DeploymentRow>, Vec<OverrideRow>)> {
    let start = week.start();
    let in_period = |t: &DateTime<Utc>| *t >= start && *t <= as_of;
    let mut list = inv.conn().prepare_cached(
        "SELECT id, name, scope, created_at, state, updated_at, overrides FROM deployments WHERE created_at <= ?1 ORDER BY id",
    )?;
    let deployments = list
        .query_map([as_of], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, DateTime<Utc>>(3)?,
                r.get::<_, DeploymentState>(4)?,
                r.get::<_, DateTime<Utc>>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stages_stmt = inv.conn().prepare_cached(
        "SELECT started_at, decision, reasons, decided_at, name, override_reason, decided_by FROM deployment_stages WHERE deployment_id = ?1 ORDER BY idx",
    )?;
    let mut hosts_stmt = inv.conn().prepare_cached(
        "SELECT h.name, d.state FROM deployment_hosts d JOIN hosts h ON h.id = d.host_id WHERE d.deployment_id = ?1 ORDER BY h.name",
    )?;
    let mut excluded_stmt = inv.conn().prepare_cached(
        "SELECT h.name, d.excluded_reason, d.excluded_at, d.excluded_by FROM deployment_hosts d JOIN hosts h ON h.id = d.host_id
         WHERE d.deployment_id = ?1 AND d.excluded_at IS NOT NULL AND d.excluded_at >= ?2 AND d.excluded_at <= ?3 ORDER BY d.excluded_at, h.name",
    )?;
    let mut rollback_stmt = inv.conn().prepare_cached(
        "SELECT max(at) FROM audit_log WHERE host = ?1 AND action IN ('rollback', 'restore') AND phase = 'after'
           AND (exit_status = 0 OR (exit_status IS NULL AND detail = 'local hook')) AND at >= ?2 AND at <= ?3",
    )?;
    let mut rows = Vec::new();
    let mut overrides = Vec::new();
    for (id, name, dscope, created_at, state, updated_at, overrides_json) in deployments {
        let hosts: Vec<(String, HostState)> = hosts_stmt
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let touches = hosts.iter().any(|(h, _)| names.contains(h))
            || matches!(scope, Scope::Group(g) if *g == dscope);
        if !touches {
            continue;
        }
        let stages: Vec<StageAt> = stages_stmt
            .query_map([id], |r| {
                Ok(StageAt {
                    started_at: r.get(0)?,
                    decision: r.get(1)?,
                    reasons: r
                        .get::<_, Option<String>>(2)?
                        .and_then(|j| serde_json::from_str(&j).ok())
                        .unwrap_or_default(),
                    decided_at: r.get(3)?,
                    name: r.get(4)?,
                    override_reason: r.get(5)?,
                    decided_by: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        // Hosts rolled back by `as_of`: rolled back now, with a successful rollback or restore
        // command in the audit log between the plan and `as_of`.
        let mut rolled_back = Vec::new();
        let mut rollback_in_period = false;
        for (h, st) in &hosts {
            if *st != HostState::RolledBack {
                continue;
            }
            let t: Option<DateTime<Utc>> =
                rollback_stmt.query_row(params![h, created_at, as_of], |r| r.get(0))?;
            if let Some(t) = t {
                rolled_back.push(h.clone());
                rollback_in_period |= in_period(&t);
            }
        }
        let outcome_at = |t: DateTime<Utc>| -> DeploymentOutcome {
            let decided = |s: &StageAt| s.decided_at.is_some_and(|d| d <= t);
            if state == DeploymentState::RolledBack && updated_at <= t {
                DeploymentOutcome::RolledBack
            } else if stages
                .iter()
                .any(|s| decided(s) && s.decision == Some(GateVerdict::NoGo))
            {
                DeploymentOutcome::Halted
            } else if !stages.is_empty()
                && stages
                    .iter()
                    .all(|s| decided(s) && s.decision == Some(GateVerdict::Go))
            {
                DeploymentOutcome::Finished
            } else if stages.iter().any(|s| s.started_at.is_some_and(|x| x <= t)) {
                DeploymentOutcome::Running
            } else {
                DeploymentOutcome::Planned
            }
        };
        let activity = in_period(&created_at)
            || rollback_in_period
            || stages.iter().any(|s| {
                s.started_at.as_ref().is_some_and(in_period)
                    || s.decided_at.as_ref().is_some_and(in_period)
            });
        let before = outcome_at(start - Duration::seconds(1));
        if !activity && before != DeploymentOutcome::Running {
            continue;
        }
        let decided: Vec<&StageAt> = stages
            .iter()
            .filter(|s| s.decided_at.is_some_and(|d| d <= as_of))
            .collect();
        rows.push(DeploymentRow {
            id,
            name: name.clone(),
            scope: dscope,
            created_at,
            outcome: outcome_at(as_of),
            stages: stages.len(),
            gates_passed: decided
                .iter()
                .filter(|s| s.decision == Some(GateVerdict::Go))
                .count(),
            no_go_reasons: decided
                .iter()
                .filter(|s| s.decision == Some(GateVerdict::NoGo))
                .flat_map(|s| s.reasons.iter().map(GateReason::to_string))
                .collect(),
            rolled_back_hosts: rolled_back,
        });
        if in_period(&created_at) {
            let map: BTreeMap<String, String> =
                serde_json::from_str(&overrides_json).unwrap_or_default();
            overrides.extend(map.into_iter().map(|(guard, reason)| OverrideRow {
                deployment_id: id,
                deployment: name.clone(),
                at: created_at,
                kind: OverrideKind::Guard,
                guard,
                reason,
                by: None,
            }));
        }
        for st in &stages {
            if let (Some(reason), Some(at)) = (&st.override_reason, st.decided_at) {
                if in_period(&at) {
                    overrides.push(OverrideRow {
                        deployment_id: id,
                        deployment: name.clone(),
                        at,
                        kind: OverrideKind::Gate,
                        guard: format!("no-go gate {}", st.name),
                        reason: reason.clone(),
                        by: st.decided_by.clone(),
                    });
                }
            }
        }
        let excluded = excluded_stmt
            .query_map(params![id, start, as_of], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, DateTime<Utc>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (host, reason, at, by) in excluded {
            overrides.push(OverrideRow {
                deployment_id: id,
                deployment: name.clone(),
                at,
                kind: OverrideKind::Exclusion,
                guard: format!("host {host} excluded"),
                reason: reason.unwrap_or_default(),
                by,
            });
        }
    }
    Ok((rows, overrides))
}

/// The last rollback drill of each group of the scope's hosts by `as_of`, from the audit log
/// (a drill writes one `rollback-drill` note: "group G deployment N: ok|FAILED").
fn drills(
    inv: &Inventory,
    hosts: &[HostSummary],
    scope: &Scope,
    as_of: DateTime<Utc>,
) -> Result<Vec<DrillRow>> {
    let mut groups: BTreeSet<String> = hosts
        .iter()
        .flat_map(|h| h.host.spec.groups.iter().cloned())
        .collect();
    if let Scope::Group(g) = scope {
        groups = BTreeSet::from([g.clone()]);
    }
    let mut stmt = inv.conn().prepare_cached(
        "SELECT at, detail FROM audit_log WHERE action = 'rollback-drill' AND at <= ?1 ORDER BY id",
    )?;
    let mut last: HashMap<String, (DateTime<Utc>, bool)> = HashMap::new();
    for row in stmt.query_map([as_of], |r| {
        Ok((
            r.get::<_, DateTime<Utc>>(0)?,
            r.get::<_, Option<String>>(1)?,
        ))
    })? {
        let (at, detail) = row?;
        let Some((group, ok)) = detail.as_deref().and_then(parse_drill_note) else {
            continue;
        };
        last.insert(group, (at, ok));
    }
    Ok(groups
        .into_iter()
        .map(|g| match last.get(&g) {
            Some((at, ok)) => {
                let age = (as_of - *at).num_days();
                DrillRow {
                    group: g,
                    last_at: Some(*at),
                    ok: Some(*ok),
                    age_days: Some(age),
                    overdue: age > 90 || !ok,
                }
            }
            None => DrillRow {
                group: g,
                last_at: None,
                ok: None,
                age_days: None,
                overdue: true,
            },
        })
        .collect())
}

/// "group web deployment 7: ok" → ("web", true). Group names have no spaces.
fn parse_drill_note(s: &str) -> Option<(String, bool)> {
    let rest = s.strip_prefix("group ")?;
    let (group, rest) = rest.split_once(" deployment ")?;
    let (_, verdict) = rest.split_once(": ")?;
    Some((group.to_string(), verdict == "ok"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drill_notes_parse() {
        assert_eq!(
            parse_drill_note("group web deployment 7: ok"),
            Some(("web".into(), true))
        );
        assert_eq!(
            parse_drill_note("group a:b/c deployment 12: FAILED"),
            Some(("a:b/c".into(), false))
        );
        assert_eq!(parse_drill_note("something else"), None);
    }

    #[test]
    fn a_patch_row_names_each_advisory_once_beside_its_cves() {
        let at = chrono::DateTime::<Utc>::UNIX_EPOCH;
        let cve = |id: &str, adv: &str| crate::classify::CveInfo {
            cve: id.into(),
            advisory_id: adv.into(),
            fixed_version: "1:3.0-2.el9".into(),
            cvss_score: None,
            cvss_vector: None,
            cvss_version: None,
            vendor_severity: "high".into(),
            disclosed_at: None,
            summary: String::new(),
        };
        let item = |host: &str, cves: Vec<crate::classify::CveInfo>| PatchItem {
            host: host.into(),
            environment: "prod".into(),
            groups: vec![],
            package: "pd-libfoo-libs".into(),
            source: "pd-libfoo".into(),
            installed_version: "1:3.0-1.el9".into(),
            candidate_version: "1:3.0-2.el9".into(),
            origin: "pd".into(),
            security: true,
            cves,
            max_cvss: None,
            vendor_severity: "high".into(),
            disclosed_at: None,
            bucket: Bucket::High,
            reason: String::new(),
            deadline: None,
            seconds_left: None,
            overdue: false,
            held: false,
        };
        let items = [
            item(
                "pd-r1",
                vec![
                    cve("CVE-2026-8", "RLSA-2026:0102"),
                    cve("CVE-2026-7", "RLSA-2026:0102"),
                ],
            ),
            item("pd-r2", vec![cve("CVE-2026-9", "CVE-2026-9")]),
        ];
        let rows = patch_rows(items.iter(), at, false);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].advisories, vec!["RLSA-2026:0102".to_string()]);
        assert_eq!(rows[0].cves, ["CVE-2026-7", "CVE-2026-8", "CVE-2026-9"]);
        assert_eq!(rows[0].hosts, ["pd-r1", "pd-r2"]);
    }
}
