//! Classification: which pending update fixes which CVEs on which host, its bucket (critical /
//! high / moderate / low) with the reason, its deadline and countdown, and the fleet's exposure
//! history (time-to-patch, compliance %). Owns the patch policy; reads the inventory and the
//! stored advisories, writes only the exposure history. Time comes from the injected clock.
//!
//! Matching: an advisory names a source package, a release and the version that fixes it. A host
//! is exposed when its installed version sorts below the fixed version (dpkg order); a pending
//! update resolves it when the candidate sorts at or above it. Binary packages map to their
//! source package through what dpkg reported.

use crate::error::{Error, Result};
use crate::host::Environment;
use crate::inventory::Inventory;
use crate::version::Version;
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The patch policy (defaults from the playbook), stored in settings and editable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default)]
pub struct Policy {
    pub critical_cvss: f64,
    pub high_cvss: f64,
    pub moderate_cvss: f64,
    pub critical_days: i64,
    pub high_days: i64,
    /// The regular patch cycle: weekly, on this weekday (0 = Monday) at this UTC hour.
    pub cycle_weekday: u32,
    pub cycle_hour: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            critical_cvss: 9.0,
            high_cvss: 7.0,
            moderate_cvss: 4.0,
            critical_days: 7,
            high_days: 30,
            cycle_weekday: 1,
            cycle_hour: 10,
        }
    }
}

const POLICY_KEY: &str = "policy";

impl Policy {
    pub fn load(inv: &Inventory) -> Result<Self> {
        match inv.setting(POLICY_KEY)? {
            Some(j) => serde_json::from_str(&j).map_err(|e| {
                Error::Invalid(format!(
                    "the stored policy is unreadable ({e}); save it again"
                ))
            }),
            None => Ok(Self::default()),
        }
    }

    pub fn validate(&self) -> Result<()> {
        let ok = (0.0..=10.0).contains(&self.moderate_cvss)
            && self.moderate_cvss <= self.high_cvss
            && self.high_cvss <= self.critical_cvss
            && self.critical_cvss <= 10.0
            && (1..=365).contains(&self.critical_days)
            && (self.critical_days..=365).contains(&self.high_days)
            && self.cycle_weekday < 7
            && self.cycle_hour < 24;
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid(
                "policy: thresholds must rise moderate <= high <= critical within 0..10, deadlines 1..365 days with critical <= high, weekday 0..6, hour 0..23".into(),
            ))
        }
    }

    pub fn save(&self, inv: &Inventory) -> Result<()> {
        self.validate()?;
        let json = serde_json::to_string(self)
            .map_err(|e| Error::Invalid(format!("the policy cannot be saved ({e})")))?;
        inv.set_setting(POLICY_KEY, &json)
    }

    /// The start of the first regular cycle at or after `t` (`None` past the end of the calendar).
    pub fn next_cycle(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let day0 = Utc
            .with_ymd_and_hms(t.year(), t.month(), t.day(), self.cycle_hour.min(23), 0, 0)
            .single()
            .unwrap_or(t);
        let today = t.weekday().num_days_from_monday();
        let mut days = (self.cycle_weekday % 7 + 7 - today) % 7;
        if days == 0 && (t.hour(), t.minute(), t.second()) > (self.cycle_hour, 0, 0) {
            days = 7;
        }
        day0.checked_add_signed(Duration::try_days(i64::from(days))?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Critical,
    High,
    Moderate,
    Low,
}

impl std::str::FromStr for Bucket {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "critical" => Ok(Bucket::Critical),
            "high" => Ok(Bucket::High),
            "moderate" | "medium" => Ok(Bucket::Moderate),
            "low" => Ok(Bucket::Low),
            other => Err(Error::Invalid(format!(
                "unknown bucket {other:?}: use critical, high, moderate or low"
            ))),
        }
    }
}

/// A CVE that a pending update fixes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CveInfo {
    pub cve: String,
    pub advisory_id: String,
    pub fixed_version: String,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    pub cvss_version: Option<String>,
    pub vendor_severity: String,
    pub disclosed_at: Option<DateTime<Utc>>,
    pub summary: String,
}

/// One pending update on one host, classified.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PatchItem {
    pub host: String,
    pub environment: String,
    pub groups: Vec<String>,
    pub package: String,
    pub source: String,
    pub installed_version: String,
    pub candidate_version: String,
    pub origin: String,
    pub security: bool,
    pub cves: Vec<CveInfo>,
    pub max_cvss: Option<f64>,
    pub vendor_severity: String,
    pub disclosed_at: Option<DateTime<Utc>>,
    pub bucket: Bucket,
    /// Why it got its bucket, for people.
    pub reason: String,
    pub deadline: Option<DateTime<Utc>>,
    /// Seconds until the deadline (negative: overdue).
    pub seconds_left: Option<i64>,
    pub overdue: bool,
    /// Held on the host (`apt-mark hold`): apt will not install it until the hold is released.
    /// Pending all the same: counted, classified, and overdue when its deadline passes.
    pub held: bool,
}

#[derive(Debug, Clone)]
struct Adv {
    advisory_id: String,
    cve: String,
    release: String,
    fixed: Option<String>,
    cvss_vector: Option<String>,
    cvss_version: Option<String>,
    cvss_score: Option<f64>,
    vendor: String,
    disclosed: Option<DateTime<Utc>>,
    summary: String,
}

/// A CVSS record from an NVD-format feed: vector, version, score, publication date.
struct NvdCvss {
    vector: String,
    version: String,
    score: f64,
    published: Option<DateTime<Utc>>,
}

/// The stored advisory knowledge, indexed by source package: loaded once per scan, sync or
/// classification (never once per host).
pub(crate) struct Knowledge {
    by_package: HashMap<String, Vec<Adv>>,
    nvd: HashMap<String, NvdCvss>,
}

/// What [`decide`] concluded about one update.
struct Decision {
    bucket: Bucket,
    reason: String,
    deadline: Option<DateTime<Utc>>,
    max_cvss: Option<f64>,
    vendor: String,
    disclosed: Option<DateTime<Utc>>,
}

pub(crate) fn load_knowledge(inv: &Inventory) -> Result<Knowledge> {
    let mut by_package: HashMap<String, Vec<Adv>> = HashMap::new();
    let mut stmt = inv.conn().prepare(
        "SELECT package, advisory_id, cve, release, fixed_version, cvss_vector, cvss_version, cvss_score, vendor_severity, disclosed_at, summary FROM advisories",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Adv {
                advisory_id: r.get(1)?,
                cve: r.get(2)?,
                release: r.get(3)?,
                fixed: r.get(4)?,
                cvss_vector: r.get(5)?,
                cvss_version: r.get(6)?,
                cvss_score: r.get(7)?,
                vendor: r
                    .get::<_, Option<String>>(8)?
                    .unwrap_or_else(|| "unknown".into()),
                disclosed: stored_date(r, 9)?,
                summary: r.get(10)?,
            },
        ))
    })?;
    for row in rows {
        let (pkg, adv) = row?;
        by_package.entry(pkg).or_default().push(adv);
    }
    let mut nvd = HashMap::new();
    let mut stmt = inv
        .conn()
        .prepare("SELECT cve, vector, version, score, published FROM cvss_records")?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            NvdCvss {
                vector: r.get(1)?,
                version: r.get(2)?,
                score: r.get(3)?,
                published: stored_date(r, 4)?,
            },
        ))
    })? {
        let (k, v) = row?;
        nvd.insert(k, v);
    }
    Ok(Knowledge { by_package, nvd })
}

/// A stored date, believed only inside [`crate::facts::SANE_YEARS`] (a database written before
/// feed dates were checked may hold one from the end of the calendar, or text that is no date).
fn stored_date(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(r.get::<_, Option<DateTime<Utc>>>(i)
        .ok()
        .flatten()
        .and_then(crate::facts::sane_date))
}

fn release_matches(release: &str, os_id: &str, os_version: &str, codename: &str) -> bool {
    if release.is_empty() {
        return true;
    }
    let (os, rel) = release.split_once(':').unwrap_or((release, ""));
    os == os_id
        && (rel == os_version || rel == codename || os_version.starts_with(&format!("{rel}.")))
}

fn vendor_rank(s: &str) -> u8 {
    match s {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

impl Knowledge {
    /// CVE details with CVSS from the advisory, or else from NVD records.
    fn info(&self, a: &Adv) -> CveInfo {
        let nvd = self.nvd.get(&a.cve);
        let (vector, version, score) = match (&a.cvss_vector, nvd) {
            (Some(v), _) => (Some(v.clone()), a.cvss_version.clone(), a.cvss_score),
            (None, Some(n)) => (
                Some(n.vector.clone()),
                Some(n.version.clone()),
                Some(n.score),
            ),
            (None, None) => (None, None, None),
        };
        CveInfo {
            cve: a.cve.clone(),
            advisory_id: a.advisory_id.clone(),
            fixed_version: a.fixed.clone().unwrap_or_default(),
            cvss_score: score,
            cvss_vector: vector,
            cvss_version: version,
            vendor_severity: a.vendor.clone(),
            disclosed_at: a.disclosed.or_else(|| nvd.and_then(|n| n.published)),
            summary: a.summary.clone(),
        }
    }

    /// Advisories (with a fix) that apply to this source package on this host's release.
    fn applicable<'a>(
        &'a self,
        source: &str,
        os: (&'a str, &'a str, &'a str),
    ) -> impl Iterator<Item = &'a Adv> + 'a {
        self.by_package
            .get(source)
            .into_iter()
            .flatten()
            .filter(move |a| a.fixed.is_some() && release_matches(&a.release, os.0, os.1, os.2))
    }
}

/// Bucket, reason and deadline for a set of CVEs (or none) on an update.
fn decide(
    policy: &Policy,
    cves: &[CveInfo],
    security: bool,
    first_seen: Option<DateTime<Utc>>,
) -> Decision {
    let max_cvss = cves
        .iter()
        .filter_map(|c| c.cvss_score)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    let vendor = cves
        .iter()
        .map(|c| c.vendor_severity.as_str())
        .max_by_key(|v| vendor_rank(v))
        .unwrap_or("unknown")
        .to_string();
    let disclosed = cves
        .iter()
        .filter_map(|c| c.disclosed_at)
        .min()
        .or(first_seen);
    let top = cves
        .iter()
        .max_by(|a, b| {
            a.cvss_score
                .unwrap_or(-1.0)
                .total_cmp(&b.cvss_score.unwrap_or(-1.0))
        })
        .map(|c| c.cve.as_str())
        .unwrap_or("");
    let score = max_cvss.unwrap_or(-1.0);
    let (bucket, reason) = if score >= policy.critical_cvss {
        (
            Bucket::Critical,
            format!("{top} has CVSS {score:.1} (>= {:.1})", policy.critical_cvss),
        )
    } else if vendor == "critical" {
        (Bucket::Critical, "the vendor rates it critical".to_string())
    } else if score >= policy.high_cvss {
        (
            Bucket::High,
            format!("{top} has CVSS {score:.1} (>= {:.1})", policy.high_cvss),
        )
    } else if vendor == "high" {
        (
            Bucket::High,
            "the vendor rates it high/important".to_string(),
        )
    } else if score >= policy.moderate_cvss {
        (
            Bucket::Moderate,
            format!("{top} has CVSS {score:.1} (>= {:.1})", policy.moderate_cvss),
        )
    } else if vendor == "medium" {
        (Bucket::Moderate, "the vendor rates it medium".to_string())
    } else if security && max_cvss.is_none() {
        (
            Bucket::Moderate,
            "from a security suite, with no CVSS score".to_string(),
        )
    } else if cves.is_empty() {
        (Bucket::Low, "a functional update: no known CVE".to_string())
    } else {
        (
            Bucket::Low,
            format!(
                "low severity (CVSS {}, vendor {vendor})",
                max_cvss.map_or("none".into(), |s| format!("{s:.1}"))
            ),
        )
    };
    // Checked: a date near the end of the calendar (or a stored policy nobody validated) gives
    // no deadline rather than a crash.
    let after = |d: DateTime<Utc>, days: i64| d.checked_add_signed(Duration::try_days(days)?);
    let deadline = match (bucket, disclosed) {
        (Bucket::Critical, Some(d)) => after(d, policy.critical_days),
        (Bucket::High, Some(d)) => after(d, policy.high_days),
        (Bucket::Moderate, Some(d)) => policy.next_cycle(d),
        _ => None,
    };
    let reason = match (bucket, deadline) {
        (Bucket::Critical, Some(_)) => format!(
            "{reason}: critical, due {} days after disclosure",
            policy.critical_days
        ),
        (Bucket::High, Some(_)) => format!(
            "{reason}: high, due {} days after disclosure",
            policy.high_days
        ),
        (Bucket::Moderate, Some(_)) => format!("{reason}: moderate, due in the next regular cycle"),
        (Bucket::Low, _) => format!("{reason}: low, at convenience"),
        (_, None) => format!("{reason}: no disclosure date known yet"),
    };
    Decision {
        bucket,
        reason,
        deadline,
        max_cvss,
        vendor,
        disclosed,
    }
}

/// Filters for [`patches`].
#[derive(Debug, Clone, Default)]
pub struct PatchFilter {
    pub bucket: Option<Bucket>,
    pub group: Option<String>,
    pub environment: Option<Environment>,
    pub host: Option<String>,
}

impl PatchFilter {
    /// Whether a host is inside the filter's scope (group, environment, host name).
    pub fn admits(&self, spec: &crate::host::HostSpec) -> bool {
        self.group.as_ref().is_none_or(|g| spec.groups.contains(g))
            && self.environment.is_none_or(|e| spec.environment == e)
            && self.host.as_ref().is_none_or(|h| h == &spec.name)
    }
}

/// The advisories a host's own repositories published with one scan (`vendor_advisories`).
fn vendor_advisories(inv: &Inventory, scan_id: i64) -> Result<Vec<crate::facts::VendorAdvisory>> {
    let mut stmt = inv.conn().prepare_cached(
        "SELECT v.advisory_id, v.package, v.version, v.severity, v.cve, v.issued_at, v.summary
         FROM scans s JOIN vendor_advisories v ON v.set_id = s.set_id WHERE s.id = ?1",
    )?;
    let v = stmt
        .query_map([scan_id], |r| {
            Ok(crate::facts::VendorAdvisory {
                id: r.get(0)?,
                package: r.get(1)?,
                version: r.get(2)?,
                severity: r.get(3)?,
                cve: r.get(4)?,
                issued: r.get(5)?,
                summary: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// The vendor advisories a pending rpm update resolves: for its package, a version above the
/// installed one and at most the candidate (rpm's order), one entry per CVE.
fn vendor_fixes(
    vendor: &[crate::facts::VendorAdvisory],
    u: &crate::facts::PendingUpdate,
) -> Vec<CveInfo> {
    use crate::pkg::rpm::Evr;
    let Ok(candidate) = u.candidate_version.parse::<Evr>() else {
        return Vec::new();
    };
    let installed = u.installed_version.parse::<Evr>().ok();
    vendor
        .iter()
        .filter(|v| v.package == u.name)
        .filter(|v| {
            v.version
                .parse::<Evr>()
                .is_ok_and(|f| f <= candidate && installed.as_ref().is_none_or(|i| f > *i))
        })
        .map(|v| CveInfo {
            cve: v.cve.clone(),
            advisory_id: v.id.clone(),
            fixed_version: v.version.clone(),
            cvss_score: None,
            cvss_vector: None,
            cvss_version: None,
            vendor_severity: v.severity.clone(),
            disclosed_at: v.issued,
            summary: v.summary.clone(),
        })
        .collect()
}

/// A host's open exposures that came from its own repositories' advisories: (CVE, source
/// package as stored, binary package, the version the advisory brings).
fn open_vendor_exposures(
    inv: &Inventory,
    host_id: i64,
) -> Result<Vec<(String, String, String, String)>> {
    let mut stmt = inv.conn().prepare_cached(
        "SELECT DISTINCT e.cve, e.package, v.package, v.version
         FROM patch_exposures e
         JOIN scans s ON s.host_id = e.host_id
         JOIN vendor_advisories v ON v.set_id = s.set_id AND v.cve = e.cve
         WHERE e.host_id = ?1 AND e.fixed_at IS NULL",
    )?;
    let rows = stmt
        .query_map([host_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What a host's own repositories said of a CVE (the newest advisory naming it), for an
/// exposure the feeds do not know.
fn vendor_info(inv: &Inventory, host_id: i64, cve: &str) -> Result<Option<CveInfo>> {
    let mut stmt = inv.conn().prepare_cached(
        "SELECT v.advisory_id, v.version, v.severity, v.issued_at, v.summary
         FROM scans s JOIN vendor_advisories v ON v.set_id = s.set_id
         WHERE s.host_id = ?1 AND v.cve = ?2 ORDER BY s.id DESC LIMIT 1",
    )?;
    let info = stmt
        .query_map(params![host_id, cve], |r| {
            Ok(CveInfo {
                cve: cve.to_string(),
                advisory_id: r.get(0)?,
                fixed_version: r.get(1)?,
                cvss_score: None,
                cvss_vector: None,
                cvss_version: None,
                vendor_severity: r.get(2)?,
                disclosed_at: r.get(3)?,
                summary: r.get(4)?,
            })
        })?
        .next()
        .transpose()?;
    Ok(info)
}

/// Every pending update on every host, classified, nearest deadline first within each bucket.
pub fn patches(inv: &Inventory, filter: &PatchFilter) -> Result<Vec<PatchItem>> {
    patches_at(inv, filter, inv.clock().now())
}

/// [`patches`] as they stood at `at`: each host's last good scan finished by then, the CVEs
/// PatchDesk knew the host was exposed to by then (an exposure first seen by `at`), countdowns
/// measured from `at`. A report for a past week reads this, so it means that week.
pub fn patches_at(
    inv: &Inventory,
    filter: &PatchFilter,
    at: DateTime<Utc>,
) -> Result<Vec<PatchItem>> {
    let know = load_knowledge(inv)?;
    patches_of(inv, &know, filter, at, None)
}

/// [`patches_at`] with the knowledge given, for the hosts (by id) in `only` when given.
fn patches_of(
    inv: &Inventory,
    know: &Knowledge,
    filter: &PatchFilter,
    at: DateTime<Utc>,
    only: Option<&std::collections::HashSet<i64>>,
) -> Result<Vec<PatchItem>> {
    let policy = Policy::load(inv)?;
    let mut exposures_stmt = inv.conn().prepare_cached(
        "SELECT cve, package, first_seen_at FROM patch_exposures WHERE host_id = ?1 AND first_seen_at <= ?2",
    )?;
    let mut out = Vec::new();
    for summary in inv.host_summaries_at(at)? {
        let spec = &summary.host.spec;
        if !filter.admits(spec) || only.is_some_and(|o| !o.contains(&summary.host.id)) {
            continue;
        }
        let Some(scan) = &summary.last_ok_scan else {
            continue;
        };
        if summary.pending_count == 0 {
            continue;
        }
        // What PatchDesk knew of this host's exposures at `at`: (CVE, source) → first seen.
        let known: HashMap<(String, String), DateTime<Utc>> = exposures_stmt
            .query_map(params![summary.host.id, at], |r| {
                Ok(((r.get(0)?, r.get(1)?), r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let os = (
            scan.os_id.as_deref().unwrap_or(""),
            scan.os_version.as_deref().unwrap_or(""),
            scan.os_codename.as_deref().unwrap_or(""),
        );
        let vendor = vendor_advisories(inv, scan.id)?;
        for (u, source) in inv.pending_of_scan(scan.id)? {
            let installed = u.installed_version.parse::<Version>().ok();
            let candidate = u.candidate_version.parse::<Version>().ok();
            let mut cves: Vec<CveInfo> = Vec::new();
            for a in know.applicable(&source, os) {
                if !known.contains_key(&(a.cve.clone(), source.clone())) {
                    continue;
                }
                let Some(fixed) = a.fixed.as_deref().and_then(|f| f.parse::<Version>().ok()) else {
                    continue;
                };
                let exposed = installed.as_ref().is_none_or(|i| *i < fixed);
                let resolves = candidate.as_ref().is_some_and(|c| *c >= fixed);
                if exposed && resolves && !cves.iter().any(|c| c.cve == a.cve) {
                    cves.push(know.info(a));
                }
            }
            // The host's own repositories' advisories (rpm updateinfo): the vendor's id and
            // severity beside each CVE the candidate fixes.
            // Rated by the vendor (Critical/Important/Moderate/Low), the update's bucket follows
            // that rating (and CVSS when a feed has one), not "a security update without CVSS".
            let mut vendor_rated = false;
            for v in vendor_fixes(&vendor, &u) {
                vendor_rated |= v.vendor_severity != "unknown";
                if !cves.iter().any(|c| c.cve == v.cve) {
                    cves.push(v);
                }
            }
            cves.sort_by(|a, b| a.cve.cmp(&b.cve));
            let first_seen: Option<DateTime<Utc>> = known
                .iter()
                .filter(|((_, pkg), _)| *pkg == source)
                .map(|(_, t)| *t)
                .min();
            let Decision {
                bucket,
                reason,
                deadline,
                max_cvss,
                vendor,
                disclosed,
            } = decide(
                &policy,
                &cves,
                u.security && !vendor_rated,
                first_seen.or(Some(scan.finished_at)),
            );
            if filter.bucket.is_some_and(|b| b != bucket) {
                continue;
            }
            let seconds_left = deadline.map(|d| (d - at).num_seconds());
            out.push(PatchItem {
                host: spec.name.clone(),
                environment: spec.environment.to_string(),
                groups: spec.groups.clone(),
                package: u.name.clone(),
                source,
                installed_version: u.installed_version.clone(),
                candidate_version: u.candidate_version.clone(),
                origin: u.origin.clone(),
                security: u.security,
                cves,
                max_cvss,
                vendor_severity: vendor,
                disclosed_at: disclosed,
                bucket,
                reason,
                deadline,
                seconds_left,
                overdue: seconds_left.is_some_and(|s| s < 0),
                held: u.held,
            });
        }
    }
    out.sort_by(|a, b| {
        (
            a.bucket,
            a.deadline.is_none(),
            a.deadline,
            &a.host,
            &a.package,
        )
            .cmp(&(
                b.bucket,
                b.deadline.is_none(),
                b.deadline,
                &b.host,
                &b.package,
            ))
    });
    Ok(out)
}

/// A CVE exposure that a scan saw fixed by some instant: what compliance % and time-to-patch
/// count besides the open patches.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedExposure {
    pub host: String,
    pub cve: String,
    pub package: String,
    pub bucket: Bucket,
    pub deadline: Option<DateTime<Utc>>,
    /// Disclosure (or first sighting when the disclosure date is unknown): where time-to-patch
    /// starts.
    pub from: DateTime<Utc>,
    pub fixed_at: DateTime<Utc>,
}

/// Every exposure of a host inside `filter` that a scan saw fixed at or before `at`, classified
/// with the policy (bucket and deadline of that CVE alone).
pub fn fixed_exposures_at(
    inv: &Inventory,
    filter: &PatchFilter,
    at: DateTime<Utc>,
) -> Result<Vec<FixedExposure>> {
    let policy = Policy::load(inv)?;
    let know = load_knowledge(inv)?;
    let admitted: HashMap<i64, String> = inv
        .host_summaries_at(at)?
        .into_iter()
        .filter(|h| filter.admits(&h.host.spec))
        .map(|h| (h.host.id, h.host.spec.name))
        .collect();
    let mut stmt = inv.conn().prepare_cached(
        "SELECT host_id, cve, package, first_seen_at, fixed_at FROM patch_exposures
         WHERE fixed_at IS NOT NULL AND fixed_at <= ?1 ORDER BY host_id, cve, package",
    )?;
    let rows = stmt
        .query_map([at], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, DateTime<Utc>>(3)?,
                r.get::<_, DateTime<Utc>>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for (host_id, cve, package, first_seen, fixed_at) in rows {
        let Some(host) = admitted.get(&host_id) else {
            continue;
        };
        let info = match know
            .by_package
            .get(&package)
            .and_then(|v| v.iter().find(|a| a.cve == cve))
        {
            Some(a) => know.info(a),
            None => match vendor_info(inv, host_id, &cve)? {
                Some(info) => info,
                None => continue,
            },
        };
        let Decision {
            bucket,
            deadline,
            disclosed,
            ..
        } = decide(
            &policy,
            std::slice::from_ref(&info),
            false,
            Some(first_seen),
        );
        out.push(FixedExposure {
            host: host.clone(),
            cve,
            package,
            bucket,
            deadline,
            from: disclosed.unwrap_or(first_seen),
            fixed_at,
        });
    }
    Ok(out)
}

/// Record, for one host after a scan, which CVEs it is exposed to now and which it no longer is
/// (the first scan that sees the fixed version installed sets `fixed_at`: time-to-patch).
pub fn update_exposures(inv: &mut Inventory, host: &str, at: DateTime<Utc>) -> Result<()> {
    let know = load_knowledge(inv)?;
    update_exposures_with(inv, &know, host, at)
}

/// [`update_exposures`] with the knowledge loaded once by the caller (a scan or a sync of the
/// whole fleet).
pub(crate) fn update_exposures_with(
    inv: &mut Inventory,
    know: &Knowledge,
    host: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let detail = inv.host_detail(host)?;
    let Some(scan) = &detail.summary.last_ok_scan else {
        return Ok(());
    };
    let os = (
        scan.os_id.clone().unwrap_or_default(),
        scan.os_version.clone().unwrap_or_default(),
        scan.os_codename.clone().unwrap_or_default(),
    );
    let host_id = detail.summary.host.id;
    // rpm hosts: the advisories of their own repositories count as exposures too (the binary
    // package's source is the key, as for the feeds), and one is fixed once the installed
    // version reaches the advisory's (rpm's order).
    let vendor_now = vendor_advisories(inv, scan.id)?;
    let vendor_open = open_vendor_exposures(inv, host_id)?;
    let source_of = |bin: &str| {
        detail
            .packages
            .iter()
            .find(|p| p.name == bin)
            .map_or_else(|| bin.to_string(), |p| p.source.clone())
    };
    let tx = inv.conn_mut().transaction()?;
    {
        let mut exposed = tx.prepare_cached(
            "INSERT OR IGNORE INTO patch_exposures (host_id, cve, package, first_seen_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut fixed_now = tx.prepare_cached(
            "UPDATE patch_exposures SET fixed_at = ?4 WHERE host_id = ?1 AND cve = ?2 AND package = ?3 AND fixed_at IS NULL",
        )?;
        for v in &vendor_now {
            exposed.execute(params![host_id, v.cve, source_of(&v.package), at])?;
        }
        for (cve, source, bin, version) in &vendor_open {
            use crate::pkg::rpm::Evr;
            let Ok(fixed) = version.parse::<Evr>() else {
                continue;
            };
            let reached = detail
                .packages
                .iter()
                .filter(|p| p.name == *bin)
                .filter_map(|p| p.version.parse::<Evr>().ok())
                .any(|i| i >= fixed);
            let still_pending = vendor_now
                .iter()
                .any(|v| v.cve == *cve && v.package == *bin);
            if reached && !still_pending {
                fixed_now.execute(params![host_id, cve, source, at])?;
            }
        }
        for p in &detail.packages {
            let Ok(installed) = p.version.parse::<Version>() else {
                continue;
            };
            for a in know.applicable(&p.source, (&os.0, &os.1, &os.2)) {
                let Some(fixed) = a.fixed.as_deref().and_then(|f| f.parse::<Version>().ok()) else {
                    continue;
                };
                if installed < fixed {
                    exposed.execute(params![host_id, a.cve, p.source, at])?;
                } else {
                    fixed_now.execute(params![host_id, a.cve, p.source, at])?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// Refresh exposures of every scanned host (after an advisory sync).
pub fn update_all_exposures(inv: &mut Inventory) -> Result<()> {
    let now = inv.clock().now();
    let names: Vec<String> = inv
        .host_summaries()?
        .into_iter()
        .filter(|h| h.last_ok_scan.is_some())
        .map(|h| h.host.spec.name)
        .collect();
    let know = load_knowledge(inv)?;
    for n in names {
        update_exposures_with(inv, &know, &n, now)?;
    }
    Ok(())
}

/// Sync a feed, then refresh every host's exposures: what `advisories sync` does.
pub fn sync_feed(inv: &mut Inventory, location: &str) -> Result<crate::advisory::SyncReport> {
    let report = crate::advisory::sync(inv, location)?;
    update_all_exposures(inv)?;
    Ok(report)
}

/// Something a person should hear about once: a critical patch appeared, a deadline is within
/// 24 hours, or a deadline was missed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Alert {
    /// `critical`, `due-soon` or `missed`.
    pub kind: String,
    pub host: String,
    pub package: String,
    pub candidate_version: String,
    pub deadline: Option<DateTime<Utc>>,
}

/// Where alerts were announced before they had a table of their own (a JSON set in settings).
const NOTIFIED_KEY: &str = "notified-alerts";

/// The alerts not announced yet (each is returned once; what was announced is stored).
///
/// Incremental: a host is classified again only when its last good scan, its name, the advisory
/// feeds or the policy changed since its alerts were last computed, or when one of its
/// deadlines crossed a threshold (24 h before, or the deadline itself) since then. A minute
/// tick with nothing changed costs two small queries, whatever the fleet's size.
pub fn new_alerts(inv: &Inventory) -> Result<Vec<Alert>> {
    let now = inv.clock().now();
    let tx = inv.conn().unchecked_transaction()?;
    move_notified_setting(inv)?;
    let inputs = alert_inputs(inv)?;
    let due: HashMap<i64, (String, Option<i64>)> = inv
        .conn()
        .prepare_cached(
            "SELECT h.id, h.name, st.last_ok_scan_id FROM hosts h
             LEFT JOIN host_status st ON st.host_id = h.id
             LEFT JOIN alert_checks c ON c.host_id = h.id
             WHERE c.host_id IS NULL OR c.scan_id IS NOT st.last_ok_scan_id OR c.host_name <> h.name
                OR c.inputs <> ?1 OR (c.next_check IS NOT NULL AND c.next_check <= ?2)",
        )?
        .query_map(params![inputs, now], |r| {
            Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let ids: std::collections::HashSet<i64> = due.keys().copied().collect();
    let know = load_knowledge(inv)?;
    let items = patches_of(inv, &know, &PatchFilter::default(), now, Some(&ids))?;
    let mut next_check: HashMap<&str, DateTime<Utc>> = HashMap::new();
    let mut announce = inv.conn().prepare_cached(
        "INSERT OR IGNORE INTO announced_alerts (kind, host, package, candidate_version) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut out = Vec::new();
    for p in &items {
        let mut kinds = Vec::new();
        if p.bucket == Bucket::Critical {
            kinds.push("critical");
        }
        match p.seconds_left {
            Some(s) if s < 0 => kinds.push("missed"),
            Some(s) if s <= 24 * 3600 => kinds.push("due-soon"),
            _ => {}
        }
        // The next instant this item's alerts can change without any input changing.
        if let Some(d) = p.deadline {
            let soon = d.checked_sub_signed(Duration::hours(24));
            let next = [soon, Some(d)].into_iter().flatten().find(|t| *t > now);
            if let Some(t) = next {
                let e = next_check.entry(p.host.as_str()).or_insert(t);
                *e = (*e).min(t);
            }
        }
        for kind in kinds {
            if announce.execute(params![kind, p.host, p.package, p.candidate_version])? > 0 {
                out.push(Alert {
                    kind: kind.to_string(),
                    host: p.host.clone(),
                    package: p.package.clone(),
                    candidate_version: p.candidate_version.clone(),
                    deadline: p.deadline,
                });
            }
        }
    }
    let mut checked = inv.conn().prepare_cached(
        "INSERT INTO alert_checks (host_id, scan_id, host_name, inputs, next_check) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(host_id) DO UPDATE SET scan_id = excluded.scan_id, host_name = excluded.host_name,
           inputs = excluded.inputs, next_check = excluded.next_check",
    )?;
    for (id, (name, scan)) in &due {
        checked.execute(params![
            id,
            scan,
            name,
            inputs,
            next_check.get(name.as_str())
        ])?;
    }
    drop((announce, checked));
    tx.commit()?;
    Ok(out)
}

/// What every host's alerts depend on besides its own scan: the advisory feeds (each sync
/// touches its source's row) and the policy, as one digest.
fn alert_inputs(inv: &Inventory) -> Result<String> {
    use sha2::{Digest, Sha256};
    let feeds: String = inv.conn().query_row(
        "SELECT coalesce(group_concat(x, ','), '') FROM (SELECT id || '@' || coalesce(fetched_at, '') || '@' || coalesce(last_ok_at, '') || '@' || advisory_count AS x FROM advisory_sources ORDER BY id)",
        [],
        |r| r.get(0),
    )?;
    let policy = inv.setting(POLICY_KEY)?.unwrap_or_default();
    let mut h = Sha256::new();
    h.update(feeds.as_bytes());
    h.update([0]);
    h.update(policy.as_bytes());
    Ok(format!("{:x}", h.finalize()))
}

/// A database from before `announced_alerts`: its JSON set of announced alerts moves into the
/// table once (nothing announced before is announced again).
fn move_notified_setting(inv: &Inventory) -> Result<()> {
    let Some(json) = inv.setting(NOTIFIED_KEY)? else {
        return Ok(());
    };
    let keys: std::collections::BTreeSet<String> = serde_json::from_str(&json).unwrap_or_default();
    let mut stmt = inv.conn().prepare_cached(
        "INSERT OR IGNORE INTO announced_alerts (kind, host, package, candidate_version) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for k in &keys {
        let mut parts = k.splitn(4, '|');
        if let (Some(kind), Some(host), Some(pkg), Some(ver)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            stmt.execute(params![kind, host, pkg, ver])?;
        }
    }
    inv.conn()
        .execute("DELETE FROM settings WHERE key = ?1", [NOTIFIED_KEY])?;
    Ok(())
}

/// One line for a desktop notification about new alerts, or `None` when there is nothing new.
pub fn alert_message(alerts: &[Alert]) -> Option<(String, String)> {
    if alerts.is_empty() {
        return None;
    }
    let count = |k: &str| alerts.iter().filter(|a| a.kind == k).count();
    let (missed, soon, crit) = (count("missed"), count("due-soon"), count("critical"));
    let title = if missed > 0 {
        format!("{missed} patch deadline(s) missed")
    } else if soon > 0 {
        format!("{soon} patch deadline(s) within 24 h")
    } else {
        format!("{crit} new critical patch(es)")
    };
    let mut hosts: Vec<&str> = alerts.iter().map(|a| a.host.as_str()).collect();
    hosts.sort();
    hosts.dedup();
    let mut pkgs: Vec<&str> = alerts.iter().map(|a| a.package.as_str()).collect();
    pkgs.sort();
    pkgs.dedup();
    Some((
        title,
        format!(
            "{} on {}. Open Patches in PatchDesk.",
            pkgs.join(", "),
            hosts.join(", ")
        ),
    ))
}

// Compliance % and time-to-patch moved to `report::metrics` (they are measured "as of" an
// instant there); re-exported here for callers of the old paths.
pub use crate::report::{compliance, Compliance, TimeToPatch};

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cve(score: Option<f64>, vendor: &str, disclosed: &str) -> CveInfo {
        CveInfo {
            cve: "CVE-1".into(),
            advisory_id: "DSA-1".into(),
            fixed_version: "1".into(),
            cvss_score: score,
            cvss_vector: None,
            cvss_version: None,
            vendor_severity: vendor.into(),
            disclosed_at: Some(t(disclosed)),
            summary: String::new(),
        }
    }

    #[test]
    fn buckets_and_deadlines_follow_the_playbook() {
        let p = Policy::default();
        let d = "2026-11-20T09:00:00Z";
        let Decision {
            bucket: b,
            reason: why,
            deadline: dl,
            ..
        } = decide(&p, &[cve(Some(9.8), "unknown", d)], true, None);
        assert_eq!(b, Bucket::Critical);
        assert!(why.contains("CVSS 9.8"), "{why}");
        assert_eq!(dl, Some(t("2026-11-27T09:00:00Z")));
        let Decision {
            bucket: b,
            deadline: dl,
            ..
        } = decide(&p, &[cve(Some(5.0), "critical", d)], true, None);
        assert_eq!((b, dl), (Bucket::Critical, Some(t("2026-11-27T09:00:00Z"))));
        let Decision {
            bucket: b,
            deadline: dl,
            ..
        } = decide(&p, &[cve(Some(7.1), "low", d)], true, None);
        assert_eq!((b, dl), (Bucket::High, Some(t("2026-12-20T09:00:00Z"))));
        let Decision {
            bucket: b,
            reason: why,
            ..
        } = decide(&p, &[cve(None, "high", d)], true, None);
        assert_eq!(b, Bucket::High);
        assert!(why.contains("vendor"), "{why}");
        // Moderate: the next regular cycle (Tuesday 10:00 UTC) after disclosure (a Friday).
        let Decision {
            bucket: b,
            deadline: dl,
            ..
        } = decide(&p, &[cve(Some(5.3), "low", d)], true, None);
        assert_eq!((b, dl), (Bucket::Moderate, Some(t("2026-11-24T10:00:00Z"))));
        let Decision {
            bucket: b,
            reason: why,
            ..
        } = decide(&p, &[], true, Some(t(d)));
        assert_eq!(b, Bucket::Moderate);
        assert!(why.contains("security suite"), "{why}");
        let Decision {
            bucket: b,
            deadline: dl,
            ..
        } = decide(&p, &[], false, Some(t(d)));
        assert_eq!((b, dl), (Bucket::Low, None));
        let Decision { bucket: b, .. } = decide(&p, &[cve(Some(3.1), "low", d)], true, None);
        assert_eq!(b, Bucket::Low);
    }

    /// A host scanned with pd-hello pending, and an advisory for it stored as an older version of
    /// PatchDesk stored it: disclosed at the end of the calendar (issue #9 item 1).
    fn fleet_with_far_future_advisory(disclosed: &str) -> Inventory {
        fleet_with_advisory(disclosed).0
    }

    /// The same fleet, with the clock that moves it.
    fn fleet_with_advisory(disclosed: &str) -> (Inventory, crate::clock::ManualClock) {
        let (mut inv, clock) = crate::inventory::test_util::inv();
        inv.add_host(&crate::host::HostSpec::new("h1", "192.0.2.1"))
            .unwrap();
        let facts = crate::facts::HostFacts {
            os_id: "debian".into(),
            os_version: "12".into(),
            os_codename: "bookworm".into(),
            state_fingerprint: "aa".into(),
            packages: Some(vec![crate::facts::Package {
                name: "pd-hello".into(),
                version: "1.0-1".into(),
                arch: "all".into(),
                source: "pd-hello".into(),
                source_version: "1.0-1".into(),
                status: "ii".into(),
            }]),
            pending: Some(vec![crate::facts::PendingUpdate {
                name: "pd-hello".into(),
                arch: "all".into(),
                installed_version: "1.0-1".into(),
                candidate_version: "1.1-1".into(),
                origin: "bookworm-security".into(),
                security: true,
                held: false,
            }]),
            ..Default::default()
        };
        let now = crate::clock::Clock::now(&clock);
        inv.record_scan(
            "h1",
            now,
            now,
            &crate::inventory::ScanOutcome::Ok {
                facts: Box::new(facts),
                bytes_received: 1,
            },
            None,
        )
        .unwrap();
        inv.conn()
            .execute_batch(&format!(
                "INSERT INTO advisory_sources (location, format, fetched_at) VALUES ('old.json', 'osv', '2026-11-24 12:00:00+00:00');
                 INSERT INTO advisories (source_id, advisory_id, cve, package, release, fixed_version, cvss_vector, cvss_version, cvss_score, vendor_severity, disclosed_at, summary)
                   VALUES (1, 'DSA-1', 'CVE-2026-1001', 'pd-hello', 'debian:12', '1.1-1', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', '3.1', 9.8, 'high', '{disclosed}', 's');
                 INSERT INTO cvss_records (cve, source_id, vector, version, score, published) VALUES ('CVE-2026-1001', 1, 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', '3.1', 9.8, '{disclosed}');"
            ))
            .unwrap();
        update_exposures(&mut inv, "h1", now).unwrap();
        (inv, clock)
    }

    fn kinds(alerts: &[Alert]) -> Vec<&str> {
        alerts.iter().map(|a| a.kind.as_str()).collect()
    }

    #[test]
    fn alerts_are_announced_once_and_computed_again_only_when_an_input_or_a_deadline_moved() {
        // CVSS 9.8 disclosed 2026-11-20 09:00: critical, due 2026-11-27 09:00; now 11-24 12:00.
        let (inv, clock) = fleet_with_advisory("2026-11-20 09:00:00+00:00");
        assert_eq!(kinds(&new_alerts(&inv).unwrap()), ["critical"]);
        assert!(new_alerts(&inv).unwrap().is_empty(), "announced once");
        // The host's next check is when its deadline comes within 24 hours, not every minute.
        let next: Option<DateTime<Utc>> = inv
            .conn()
            .query_row("SELECT next_check FROM alert_checks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(next, Some(t("2026-11-26T09:00:00Z")));
        clock.set(t("2026-11-26T08:59:00Z"));
        assert!(new_alerts(&inv).unwrap().is_empty());
        clock.set(t("2026-11-26T09:00:30Z"));
        assert_eq!(kinds(&new_alerts(&inv).unwrap()), ["due-soon"]);
        clock.set(t("2026-11-27T09:01:00Z"));
        assert_eq!(kinds(&new_alerts(&inv).unwrap()), ["missed"]);
        assert!(new_alerts(&inv).unwrap().is_empty());

        // A policy change is an input of every host: a 2-day deadline was missed long ago, but
        // "missed" was announced already; a candidate of another version is new.
        let (inv, _clock) = fleet_with_advisory("2026-11-20 09:00:00+00:00");
        assert_eq!(kinds(&new_alerts(&inv).unwrap()), ["critical"]);
        let p = Policy {
            critical_days: 2,
            high_days: 30,
            ..Policy::default()
        };
        p.save(&inv).unwrap();
        assert_eq!(kinds(&new_alerts(&inv).unwrap()), ["missed"]);
    }

    #[test]
    fn alerts_announced_by_an_older_version_are_not_announced_again() {
        let (inv, _clock) = fleet_with_advisory("2026-11-20 09:00:00+00:00");
        inv.set_setting(NOTIFIED_KEY, r#"["critical|h1|pd-hello|1.1-1"]"#)
            .unwrap();
        assert!(new_alerts(&inv).unwrap().is_empty());
        assert_eq!(
            inv.setting(NOTIFIED_KEY).unwrap(),
            None,
            "moved to its table"
        );
        let (inv, _clock) = fleet_with_advisory("2026-11-20 09:00:00+00:00");
        inv.set_setting(NOTIFIED_KEY, r#"["critical|h1|pd-hello|1.0-9"]"#)
            .unwrap();
        assert_eq!(kinds(&new_alerts(&inv).unwrap()), ["critical"]);
    }

    #[test]
    fn dates_at_the_end_of_the_calendar_never_crash_classification() {
        for disclosed in [
            "+262142-12-31 00:00:00+00:00",
            "-262143-01-01 00:00:00+00:00",
            "9999-12-31 23:59:59+00:00",
            "not a date",
        ] {
            let inv = fleet_with_far_future_advisory(disclosed);
            let items = patches(&inv, &PatchFilter::default()).unwrap();
            assert_eq!(items.len(), 1, "{disclosed}");
            let p = &items[0];
            assert_eq!(p.bucket, Bucket::Critical);
            // The insane date is not believed: the deadline counts from when the host was first
            // seen exposed, as for an advisory with no date.
            assert_eq!(
                p.disclosed_at.map(|d| d.year()),
                Some(2026),
                "{disclosed}: {p:?}"
            );
            assert!(p.deadline.is_some());
            let c = compliance(&inv, &crate::report::Scope::Fleet, inv.clock().now()).unwrap();
            assert_eq!(c.open_critical, 1);
            let alerts = new_alerts(&inv).unwrap();
            assert!(alerts.iter().any(|a| a.kind == "critical"), "{alerts:?}");
        }
    }

    #[test]
    fn hosts_that_cannot_be_read_are_never_assessed() {
        let mut inv = fleet_with_far_future_advisory("2026-11-20 09:00:00+00:00");
        let now = crate::clock::Clock::now(&crate::inventory::test_util::clock());
        let failed = |code: &str, message: &str| crate::inventory::ScanOutcome::Failed {
            code: code.into(),
            message: message.into(),
            bytes_received: 0,
        };
        for h in ["rocky", "never", "down"] {
            inv.add_host(&crate::host::HostSpec::new(h, "192.0.2.9"))
                .unwrap();
        }
        inv.record_scan(
            "rocky",
            now,
            now,
            &failed(
                "unsupported",
                "Rocky Linux 9.3: neither dpkg nor rpm on this host; PatchDesk reads Debian/Ubuntu (dpkg) and RHEL-family (rpm) hosts",
            ),
            None,
        )
        .unwrap();
        inv.record_scan(
            "down",
            now,
            now,
            &failed("unreachable", "cannot connect"),
            None,
        )
        .unwrap();
        // h1 scanned fine, then became unreachable: its last inventory still stands.
        inv.record_scan(
            "h1",
            now,
            now,
            &failed("unreachable", "cannot connect"),
            None,
        )
        .unwrap();
        let c = compliance(&inv, &crate::report::Scope::Fleet, inv.clock().now()).unwrap();
        let got: Vec<(&str, &str)> = c
            .not_assessed
            .iter()
            .map(|n| (n.host.as_str(), n.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("down", "never scanned successfully (cannot connect)"),
                ("never", "never scanned"),
                (
                    "rocky",
                    "Rocky Linux 9.3: neither dpkg nor rpm on this host; PatchDesk reads Debian/Ubuntu (dpkg) and RHEL-family (rpm) hosts"
                ),
            ]
        );
        assert_eq!(c.open_critical, 1, "h1 still counts");
    }

    #[test]
    fn date_arithmetic_is_checked() {
        let p = Policy {
            critical_days: i64::MAX,
            high_days: i64::MAX,
            ..Policy::default()
        };
        let far = DateTime::<Utc>::MAX_UTC - Duration::days(1);
        let Decision { deadline, .. } = decide(&p, &[], true, Some(far));
        assert_eq!(deadline, None, "next cycle after the end of time");
        let mut c = cve(Some(9.8), "unknown", "2026-11-20T09:00:00Z");
        c.disclosed_at = Some(far);
        let Decision { deadline, .. } = decide(&p, &[c.clone()], true, None);
        assert_eq!(deadline, None);
        assert_eq!(Policy::default().next_cycle(far), None);
        assert!(Policy::default()
            .next_cycle(DateTime::<Utc>::MIN_UTC)
            .is_some());
    }

    #[test]
    fn next_cycle() {
        let p = Policy::default(); // Tuesday 10:00
        assert_eq!(
            p.next_cycle(t("2026-11-24T09:59:00Z")),
            Some(t("2026-11-24T10:00:00Z"))
        );
        assert_eq!(
            p.next_cycle(t("2026-11-24T10:00:00Z")),
            Some(t("2026-11-24T10:00:00Z"))
        );
        assert_eq!(
            p.next_cycle(t("2026-11-24T10:00:01Z")),
            Some(t("2026-12-01T10:00:00Z"))
        );
        assert_eq!(
            p.next_cycle(t("2026-11-29T23:00:00Z")),
            Some(t("2026-12-01T10:00:00Z"))
        );
    }

    #[test]
    fn policy_validation() {
        let mut p = Policy::default();
        assert!(p.validate().is_ok());
        p.high_cvss = 9.5;
        assert!(p.validate().is_err());
        let p = Policy {
            critical_days: 40,
            ..Policy::default()
        };
        assert!(p.validate().is_err());
    }

    #[test]
    fn releases() {
        assert!(release_matches("", "debian", "12", "bookworm"));
        assert!(release_matches("debian:12", "debian", "12", "bookworm"));
        assert!(release_matches(
            "debian:bookworm",
            "debian",
            "12",
            "bookworm"
        ));
        assert!(!release_matches("debian:11", "debian", "12", "bookworm"));
        assert!(!release_matches("ubuntu:22.04", "debian", "12", "bookworm"));
        assert!(release_matches("ubuntu:22.04", "ubuntu", "22.04", "jammy"));
    }
}
