//! The metrics of a scope *as of* an instant: compliance % (patches inside their deadline),
//! the share of hosts fully patched, open and overdue patches per bucket, time-to-patch per
//! bucket, and the state of the hosts' scans. Hosts whose state is unknown (never scanned,
//! unreadable, or whose last scan failed) are never counted as patched or compliant: this one
//! function ([`compliance`]) is what the CLI, the app and the weekly report show. Each takes the instant `at` it is measured at, so a figure for week 47 means week 47
//! even when it is computed in week 49. Reads only; time comes from the caller.

use super::Scope;
use crate::classify::{self, Bucket, FixedExposure, PatchItem};
use crate::error::Result;
use crate::inventory::{HostSummary, Inventory};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Time-to-patch statistics of one bucket: from disclosure (or first sighting) to the first scan
/// that saw the fix installed, over every patch applied by the instant measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TimeToPatch {
    pub bucket: Bucket,
    pub patched: usize,
    pub mean_hours: Option<f64>,
    pub median_hours: Option<f64>,
}

/// Compliance of a scope (a group, an environment or the whole fleet) at an instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Compliance {
    /// The group's name, the environment (`prod`, `non-prod`) or `fleet`.
    pub scope: String,
    /// Patches counted: those with a deadline (open ones and ones already applied), and every
    /// security update pending on a host of unknown state.
    pub with_deadline: usize,
    /// ...of which inside their deadline (never one on a host of unknown state).
    pub compliant: usize,
    /// "Patches inside their deadline": compliant / with_deadline, in percent; `None` when
    /// nothing has a deadline. Never 100 while updates are pending on unreachable hosts.
    pub percent: Option<f64>,
    /// Open patches counted above whose state is unknown: pending (at the last good scan) on a
    /// host whose latest scan failed. Whether they were installed since nobody knows.
    #[serde(default)]
    pub unknown_patches: usize,
    /// ...of which security updates.
    #[serde(default)]
    pub unknown_security: usize,
    /// Hosts of the scope.
    #[serde(default)]
    pub hosts_total: usize,
    /// Hosts whose latest scan succeeded and found no pending update.
    #[serde(default)]
    pub hosts_fully_patched: usize,
    /// Hosts whose patch level is unknown: never scanned, unreadable, or their latest scan
    /// failed (unreachable, changed host key...). Counted in `hosts_total`, never as patched.
    #[serde(default)]
    pub hosts_unknown: usize,
    /// "Hosts fully patched": hosts_fully_patched / hosts_total, in percent; `None` without hosts.
    #[serde(default)]
    pub hosts_percent: Option<f64>,
    pub overdue: usize,
    pub open_critical: usize,
    pub open_high: usize,
    pub open_moderate: usize,
    pub open_low: usize,
    pub nearest_deadline: Option<DateTime<Utc>>,
    pub time_to_patch: Vec<TimeToPatch>,
    /// Hosts of the scope whose patch level is unknown (never read, or not readable: no dpkg, a
    /// failed package listing) as their scans stood at the instant: never counted as patched or
    /// compliant. (Empty in weekly snapshots stored before this was added.)
    #[serde(default)]
    pub not_assessed: Vec<NotAssessed>,
}

/// A host whose patch level PatchDesk does not know, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NotAssessed {
    pub host: String,
    pub kind: Unassessed,
    pub reason: String,
}

/// Why a host's patch level is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Unassessed {
    /// Not scanned yet.
    NeverScanned,
    /// Scanned, never successfully (unreachable, refused key...).
    NeverRead,
    /// Its packages cannot be read (no dpkg, a failing package listing, an empty list).
    Unreadable,
}

/// Error codes of a scan that mean the host's packages cannot be read at all (as opposed to an
/// unreachable host, whose last good inventory still stands).
const UNREADABLE: &[&str] = &["unsupported", "package_listing"];

/// The hosts of a scope whose patch level is unknown at `at` (as their scans stood then).
pub fn not_assessed(inv: &Inventory, scope: &Scope, at: DateTime<Utc>) -> Result<Vec<NotAssessed>> {
    let filter = scope.filter();
    let hosts: Vec<HostSummary> = inv
        .host_summaries_at(at)?
        .into_iter()
        .filter(|h| filter.admits(&h.host.spec))
        .collect();
    Ok(not_assessed_of(&hosts))
}

/// Which of these hosts cannot be assessed, and why.
pub(crate) fn not_assessed_of(hosts: &[HostSummary]) -> Vec<NotAssessed> {
    hosts
        .iter()
        .filter_map(|h| {
            let last_error = h
                .last_scan
                .as_ref()
                .filter(|s| !s.ok)
                .and_then(|s| Some((s.error_code.clone()?, s.error_message.clone()?)));
            let (kind, reason) = match (&h.last_ok_scan, &last_error) {
                (_, Some((code, msg))) if UNREADABLE.contains(&code.as_str()) => {
                    (Unassessed::Unreadable, msg.clone())
                }
                (None, Some((_, msg))) => (
                    Unassessed::NeverRead,
                    format!("never scanned successfully ({msg})"),
                ),
                (None, None) => (Unassessed::NeverScanned, "never scanned".to_string()),
                (Some(_), _) if h.package_count == 0 => (
                    Unassessed::Unreadable,
                    "its last scan listed no package".into(),
                ),
                (Some(_), _) => return None,
            };
            Some(NotAssessed {
                host: h.host.spec.name.clone(),
                kind,
                reason,
            })
        })
        .collect()
}

impl Compliance {
    /// Time-to-patch of one bucket.
    pub fn ttp(&self, bucket: Bucket) -> Option<&TimeToPatch> {
        self.time_to_patch.iter().find(|t| t.bucket == bucket)
    }
}

pub(crate) const BUCKETS: [Bucket; 4] = [
    Bucket::Critical,
    Bucket::High,
    Bucket::Moderate,
    Bucket::Low,
];

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Compliance % and time-to-patch of a scope at `at` (use the clock's now for "now").
pub fn compliance(inv: &Inventory, scope: &Scope, at: DateTime<Utc>) -> Result<Compliance> {
    let filter = scope.filter();
    let open = classify::patches_at(inv, &filter, at)?;
    let fixed = classify::fixed_exposures_at(inv, &filter, at)?;
    let hosts: Vec<HostSummary> = inv
        .host_summaries_at(at)?
        .into_iter()
        .filter(|h| filter.admits(&h.host.spec))
        .collect();
    Ok(compliance_from(scope, &open, &fixed, &hosts))
}

/// Whether PatchDesk knows this host's patch level now: its latest scan succeeded and read its
/// packages.
fn known(h: &HostSummary, unassessed: &[NotAssessed]) -> bool {
    h.last_scan.as_ref().is_some_and(|s| s.ok)
        && !unassessed.iter().any(|n| n.host == h.host.spec.name)
}

/// The figures from already classified open patches, applied fixes and the scope's hosts (as
/// their scans stood at the instant measured).
pub(crate) fn compliance_from(
    scope: &Scope,
    open: &[PatchItem],
    fixed: &[FixedExposure],
    hosts: &[HostSummary],
) -> Compliance {
    let count = |b: Bucket| open.iter().filter(|p| p.bucket == b).count();
    let not_assessed = not_assessed_of(hosts);
    let unknown: std::collections::HashSet<&str> = hosts
        .iter()
        .filter(|h| !known(h, &not_assessed))
        .map(|h| h.host.spec.name.as_str())
        .collect();
    let mut with_deadline = 0;
    let mut compliant = 0;
    let mut unknown_patches = 0;
    let mut unknown_security = 0;
    for p in open {
        if unknown.contains(p.host.as_str()) {
            if p.deadline.is_some() || p.security {
                with_deadline += 1;
                unknown_patches += 1;
                unknown_security += usize::from(p.security);
            }
            continue;
        }
        if p.deadline.is_some() {
            with_deadline += 1;
            if !p.overdue {
                compliant += 1;
            }
        }
    }
    let pending: std::collections::HashSet<&str> = open.iter().map(|p| p.host.as_str()).collect();
    let hosts_fully_patched = hosts
        .iter()
        .filter(|h| {
            let name = h.host.spec.name.as_str();
            !unknown.contains(name) && !pending.contains(name) && h.pending_count == 0
        })
        .count();
    let mut ttp: HashMap<Bucket, Vec<f64>> = HashMap::new();
    for f in fixed {
        if let Some(d) = f.deadline {
            with_deadline += 1;
            if f.fixed_at <= d {
                compliant += 1;
            }
        }
        ttp.entry(f.bucket)
            .or_default()
            .push(((f.fixed_at - f.from).num_seconds().max(0) as f64) / 3600.0);
    }
    let time_to_patch = BUCKETS
        .into_iter()
        .map(|b| {
            let mut v = ttp.remove(&b).unwrap_or_default();
            TimeToPatch {
                bucket: b,
                patched: v.len(),
                mean_hours: (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64),
                median_hours: median(&mut v),
            }
        })
        .collect();
    Compliance {
        scope: scope.label(),
        with_deadline,
        compliant,
        percent: (with_deadline > 0).then(|| 100.0 * compliant as f64 / with_deadline as f64),
        overdue: open.iter().filter(|p| p.overdue).count(),
        open_critical: count(Bucket::Critical),
        open_high: count(Bucket::High),
        open_moderate: count(Bucket::Moderate),
        open_low: count(Bucket::Low),
        nearest_deadline: open
            .iter()
            .filter(|p| !p.overdue)
            .filter_map(|p| p.deadline)
            .min(),
        time_to_patch,
        not_assessed,
        unknown_patches,
        unknown_security,
        hosts_total: hosts.len(),
        hosts_fully_patched,
        hosts_unknown: unknown.len(),
        hosts_percent: (!hosts.is_empty())
            .then(|| 100.0 * hosts_fully_patched as f64 / hosts.len() as f64),
    }
}

/// How current PatchDesk's knowledge of a host was at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "kebab-case")]
pub enum ScanState {
    /// The last scan succeeded within 24 hours.
    Fresh,
    /// The last scan succeeded, more than 24 hours before.
    Stale,
    /// The last scan failed (unreachable, refused key, timeout...).
    Unreachable,
    /// Never scanned.
    Never,
}

impl ScanState {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanState::Fresh => "fresh",
            ScanState::Stale => "stale",
            ScanState::Unreachable => "unreachable",
            ScanState::Never => "never scanned",
        }
    }
}

/// A scan older than this is stale.
pub const STALE_AFTER_HOURS: i64 = 24;

/// The hosts of a scope by the state of their scans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostCounts {
    pub total: usize,
    /// Scanned successfully within 24 hours.
    pub scanned: usize,
    pub stale: usize,
    pub unreachable: usize,
    pub never_scanned: usize,
    pub reboot_pending: usize,
}

/// One host's scan state at an instant.
pub(crate) fn scan_state(h: &HostSummary, at: DateTime<Utc>) -> ScanState {
    match (&h.last_scan, &h.last_ok_scan) {
        (None, _) => ScanState::Never,
        (Some(s), _) if !s.ok => ScanState::Unreachable,
        (Some(_), Some(ok)) if at - ok.finished_at > Duration::hours(STALE_AFTER_HOURS) => {
            ScanState::Stale
        }
        (Some(_), Some(_)) => ScanState::Fresh,
        // A successful last scan is always the last good scan; keep the type total.
        (Some(_), None) => ScanState::Unreachable,
    }
}

pub(crate) fn host_counts(hosts: &[HostSummary], at: DateTime<Utc>) -> HostCounts {
    let mut c = HostCounts {
        total: hosts.len(),
        ..HostCounts::default()
    };
    for h in hosts {
        match scan_state(h, at) {
            ScanState::Fresh => c.scanned += 1,
            ScanState::Stale => c.stale += 1,
            ScanState::Unreachable => c.unreachable += 1,
            ScanState::Never => c.never_scanned += 1,
        }
        if h.last_ok_scan
            .as_ref()
            .and_then(|s| s.reboot_required)
            .unwrap_or(false)
        {
            c.reboot_pending += 1;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
